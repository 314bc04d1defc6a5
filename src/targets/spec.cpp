#include <scoreflow/targets/spec.hpp>

#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {
namespace {

double to_number(const std::string& spec, const std::string& key, const std::string& s) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw InvalidArgument(fmt::format("{}: parameter {}='{}' is not a finite number", spec, key, s));
}

}  // namespace

Spec Spec::parse(const std::string& text) {
  Spec s;
  s.text_ = text;
  const auto colon = text.find(':');
  s.name_ = text.substr(0, colon);
  if (s.name_.empty()) throw InvalidArgument(fmt::format("spec '{}' has no name before ':'", text));
  if (colon == std::string::npos) return s;
  const std::string rest = text.substr(colon + 1);
  // Split at top-level commas (commas inside [...] belong to lists).
  std::vector<std::string> items;
  int depth = 0;
  std::string cur;
  for (char c : rest) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      items.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) throw InvalidArgument(fmt::format("spec '{}': unbalanced brackets", text));
  items.push_back(cur);
  for (const auto& item : items) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InvalidArgument(
          fmt::format("spec '{}': '{}' is not of the form key=value", text, item));
    const std::string key = item.substr(0, eq);
    if (!s.values_.emplace(key, item.substr(eq + 1)).second)
      throw InvalidArgument(fmt::format("spec '{}': key '{}' is given twice ({}={} and {})", text,
                                        key, key, s.values_.at(key), item));
  }
  return s;
}

Spec Spec::from(const std::string& name, const std::map<std::string, std::string>& values) {
  if (name.empty() || name.find_first_of(":,=") != std::string::npos)
    throw InvalidArgument(fmt::format("'{}' is not a name (no ':', ',' or '=')", name));
  Spec s;
  s.name_ = name;
  s.values_ = values;
  s.text_ = name;
  char sep = ':';
  for (const auto& [k, v] : values) {
    const bool wrap = v.find(',') != std::string::npos && !v.starts_with('[');
    s.text_ += fmt::format("{}{}={}", sep, k, wrap ? "[" + v + "]" : v);
    sep = ',';
  }
  return s;
}

bool Spec::flag(const std::string& key, bool fallback) const {
  const auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw InvalidArgument(fmt::format("{}: parameter {}='{}' is not true or false", text_, key, v));
}

std::string Spec::unbracketed(const std::string& key, const std::string& fallback) const {
  std::string v = string(key, fallback);
  if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  return v;
}

bool Spec::has(const std::string& key) const {
  return values_.count(key) > 0;
}

double Spec::number(const std::string& key, double fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : to_number(text_, key, it->second);
}

std::size_t Spec::count(const std::string& key, std::size_t fallback) const {
  const double v = number(key, static_cast<double>(fallback));
  if (!(v >= 1) || v != std::floor(v) || v > 1e9)
    throw InvalidArgument(
        fmt::format("{}: parameter {}={} must be a positive whole number", text_, key, v));
  return static_cast<std::size_t>(v);
}

std::string Spec::string(const std::string& key, const std::string& fallback) const {
  const auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

std::vector<double> Spec::list(const std::string& key) const {
  std::string v = values_.at(key);
  if (v.empty() || v.front() != '[') return {to_number(text_, key, v)};
  if (v.back() != ']')
    throw InvalidArgument(fmt::format("{}: list {} is not closed with ']'", text_, key));
  v = v.substr(1, v.size() - 2);
  std::vector<double> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto end = std::min(v.find(',', start), v.size());
    out.push_back(to_number(text_, key, v.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

void Spec::allow_only(const std::set<std::string>& valid) const {
  for (const auto& [k, v] : values_)
    if (!valid.count(k))
      throw InvalidArgument(
          fmt::format("{}: unknown parameter '{}' for '{}'; valid parameters: {}", text_, k, name_,
                      valid.empty() ? "none" : fmt::format("{}", fmt::join(valid, ", "))));
}

std::string format_list(const std::vector<double>& v) {
  return fmt::format("[{}]", fmt::join(v, ","));
}

std::vector<std::int64_t> parse_widths(const std::string& s) {
  std::vector<std::int64_t> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const auto comma = s.find(',', pos);
    const auto item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    try {
      std::size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw InvalidArgument(
          fmt::format("--hidden '{}': '{}' is not a positive integer (e.g. 128,128,128)", s, item));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

}  // namespace sf
