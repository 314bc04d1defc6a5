// One registry per kind of part (targets, samplers, SDEs, losses, resamplers, annealing
// paths): a name maps to a factory and a line of help. The built-ins are entered when a
// registry is first used; user code adds its own at run time, and the command line, configs
// and error messages then know them like the built-ins.
#pragma once

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

template <class Factory>
class Registry {
 public:
  struct Entry {
    std::string name;
    std::string parameters;   // "d=2, scale=3": the parameters with their defaults
    std::string description;  // one line
    Factory factory;
  };

  // `kind` names the entries in messages: "target", "sampler", ...; `builtins` enters the
  // library's own entries.
  explicit Registry(std::string kind, void (*builtins)(Registry&) = nullptr)
      : kind_(std::move(kind)) {
    if (builtins) builtins(*this);
  }

  // Adds an entry. A name already taken is refused unless `replace` is set, so that a
  // user's part cannot shadow a built-in by accident.
  void add(Entry entry, bool replace = false) {
    if (entry.name.empty() || entry.name.find_first_of(":,= ") != std::string::npos)
      throw InvalidArgument(
          fmt::format("{} name '{}': give a non-empty name without ':', ',', '=' or spaces", kind_,
                      entry.name));
    if (!static_cast<bool>(entry.factory))
      throw InvalidArgument(fmt::format("{} '{}': the factory is empty", kind_, entry.name));
    std::lock_guard lock(mutex_);
    const auto it = find(entry.name);
    if (it != entries_.end() && !replace)
      throw InvalidArgument(fmt::format(
          "{} '{}' is already registered; pass replace = true to replace it", kind_, entry.name));
    if (it != entries_.end())
      *it = std::move(entry);
    else
      entries_.push_back(std::move(entry));
  }

  bool contains(const std::string& name) const {
    std::lock_guard lock(mutex_);
    return find(name) != entries_.end();
  }

  // A copy, so that a later add() cannot invalidate it. Throws InvalidArgument naming the
  // valid names when `name` is not registered.
  Entry get(const std::string& name) const {
    std::lock_guard lock(mutex_);
    const auto it = find(name);
    if (it == entries_.end())
      throw InvalidArgument(
          fmt::format("unknown {} '{}'; valid {}: {}", kind_, name, plural(), joined_names()));
    return *it;
  }

  // In the order they were added: the built-ins first.
  std::vector<Entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

  std::string names() const {
    std::lock_guard lock(mutex_);
    return joined_names();
  }

  const std::string& kind() const { return kind_; }

 private:
  auto find(const std::string& name) const {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const Entry& e) { return e.name == name; });
  }
  auto find(const std::string& name) {
    return std::find_if(entries_.begin(), entries_.end(),
                        [&](const Entry& e) { return e.name == name; });
  }
  std::string plural() const { return kind_ + (kind_.ends_with('s') ? "es" : "s"); }
  std::string joined_names() const {
    std::string out;
    for (const auto& e : entries_) out += (out.empty() ? "" : ", ") + e.name;
    return out;
  }

  std::string kind_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace sf
