// Spec strings name a target (or data set) and its parameters: "gauss:d=10,mean=[1,2]".
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace sf {

class Spec {
 public:
  // Parses "name" or "name:key=value,key=value"; list values are written [a,b,c].
  static Spec parse(const std::string& text);
  // From a name and key=value pairs already split (e.g. from command-line flags); values
  // holding commas are written in brackets in text().
  static Spec from(const std::string& name, const std::map<std::string, std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& text() const { return text_; }
  bool has(const std::string& key) const;
  double number(const std::string& key, double fallback) const;
  std::size_t count(const std::string& key, std::size_t fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
  std::vector<double> list(const std::string& key) const;
  // true | false (also 1 | 0, yes | no, on | off).
  bool flag(const std::string& key, bool fallback) const;
  // The value with one pair of enclosing brackets removed: "[0:0,1:1]" -> "0:0,1:1".
  std::string unbracketed(const std::string& key, const std::string& fallback) const;
  const std::map<std::string, std::string>& values() const { return values_; }
  // Throws if a key outside `valid` was given, naming the valid ones.
  void allow_only(const std::set<std::string>& valid) const;

 private:
  std::string text_, name_;
  std::map<std::string, std::string> values_;
};

std::string format_list(const std::vector<double>& v);

// Network widths "128,128,128" (the --hidden flag); each must be a positive integer.
std::vector<std::int64_t> parse_widths(const std::string& s);

}  // namespace sf
