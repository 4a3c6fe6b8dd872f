# Build: Release binary only, no tests.
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake ninja-build g++ pkg-config \
      libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev \
      libpqxx-dev libpq-dev libssl-dev \
      libqrencode-dev libcurl4-openssl-dev libcrypt-dev libargon2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The sources (.dockerignore keeps build trees, data and backups out).
COPY . .
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTHD_TESTS=OFF \
 && cmake --build build \
 && strip build/authd

# Runtime: shared libraries, curl for the health check, an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpqxx-6.4 libpq5 libssl3 libboost-json1.81.0 libboost-url1.81.0 \
      libqrencode4 libcurl4 libcrypt1 libargon2-1 libboost-container1.81.0 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/authd --shell /usr/sbin/nologin authd \
 && mkdir -p /var/lib/authd/backups \
 && chown -R authd:authd /var/lib/authd
COPY --from=build /src/build/authd /usr/local/bin/authd
USER authd
WORKDIR /var/lib/authd
VOLUME /var/lib/authd/backups
ENV AUTHD_BACKUP_DIR=/var/lib/authd/backups AUTHD_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["authd"]
CMD ["serve"]
