// Typed errors. Every message names the bad value and what would be valid; the CLI prints
// it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace sf {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A user-supplied value (flag, spec, config entry) is outside what is valid.
struct InvalidArgument : Error {
  using Error::Error;
};
// A file could not be read or written.
struct IoError : Error {
  using Error::Error;
};
// A file was read but its contents are malformed or truncated.
struct FormatError : Error {
  using Error::Error;
};
// A computation produced a non-finite value (diverging sampler, overflow).
struct NumericalError : Error {
  using Error::Error;
};

}  // namespace sf
