// Asio and Beast are built with separate compilation: their implementation lives in this one unit.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
