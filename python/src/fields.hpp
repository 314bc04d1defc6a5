// Options from a Python dict into a library options struct, field by field, refusing keys
// that are not options.
#pragma once

#include <map>
#include <string>

#include <fmt/format.h>
#include <pybind11/pybind11.h>

#include <scoreflow/core/error.hpp>

namespace sfpy {

class Fields {
 public:
  explicit Fields(const pybind11::dict& d) {
    for (const auto& [k, v] : d)
      given_[k.cast<std::string>()] = pybind11::reinterpret_borrow<pybind11::object>(v);
  }
  // Moves d[key], when given, into field.
  template <class T>
  Fields& set(const char* key, T& field) {
    if (const auto it = given_.find(key); it != given_.end()) {
      field = it->second.cast<T>();
      given_.erase(it);
    }
    return *this;
  }
  // Refuses what no set() took.
  void done(const char* who) const {
    if (!given_.empty())
      throw sf::InvalidArgument(fmt::format("{}: unknown option '{}'", who, given_.begin()->first));
  }

 private:
  std::map<std::string, pybind11::object> given_;
};

}  // namespace sfpy
