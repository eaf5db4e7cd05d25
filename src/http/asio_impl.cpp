// The one translation unit that compiles Boost.Asio and Boost.Beast (separate compilation:
// BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION are set by CMake).
// No other file may include these two headers.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
