#include "cli/strict_input.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

namespace sf {
namespace fs = std::filesystem;

namespace {

template <class Int>
std::string whole_number_error(const std::string& s) {
  Int v{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) return {};
  return fmt::format("'{}' is not valid: expected a whole number from {} to {}", s,
                     std::numeric_limits<Int>::min(), std::numeric_limits<Int>::max());
}

std::string finite_number_error(const std::string& s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && ec == std::errc() && end == s.data() + s.size() && std::isfinite(v)) return {};
  return fmt::format("'{}' is not valid: expected a finite number such as 0.5 or 1e-3", s);
}

void strict_options(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();
    if (type == "UINT")
      opt->check(whole_number_error<std::uint64_t>, "", "");
    else if (type == "INT")
      opt->check(whole_number_error<std::int32_t>, "", "");
    else if (type == "FLOAT")
      opt->check(finite_number_error, "", "");
  }
  for (CLI::App* sub : app.get_subcommands({})) strict_options(*sub);
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return {};
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

// The sections a config file may have: the commands, nested ones joined by dots.
void collect_sections(const CLI::App& app, const std::string& prefix,
                      std::map<std::string, const CLI::App*>& out) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    const std::string name = prefix.empty() ? sub->get_name() : prefix + "." + sub->get_name();
    out[name] = sub;
    collect_sections(*sub, name, out);
  }
}

bool has_option(const CLI::App& app, const std::string& key) {
  return app.get_option_no_throw("--" + key) || app.get_option_no_throw("-" + key) ||
         app.get_option_no_throw(key);
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* opt : app.get_options())
    for (const auto& n : opt->get_lnames())
      if (n != "help" && n != "config" && n != "version") names.push_back(n);
  return names;
}

void check_text(const std::string& bytes, const fs::path& file) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == 0 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t'))
      throw InvalidArgument(fmt::format(
          "--config {}: not a text config file (control byte 0x{:02x} at offset {}); expected "
          "TOML/INI lines such as [sample] and n = 1000",
          file.string(), c, i));
  }
}

}  // namespace

void make_numbers_strict(CLI::App& app) {
  strict_options(app);
}

std::optional<fs::path> config_file_argument(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) return fs::path(argv[i + 1]);
    if (a.starts_with("--config=")) return fs::path(a.substr(9));
  }
  return std::nullopt;
}

void check_config_file(const fs::path& file, const CLI::App& app) {
  const std::string bytes = read_file(file);
  check_text(bytes, file);
  std::map<std::string, const CLI::App*> sections;
  collect_sections(app, "", sections);
  const auto where = [&](std::size_t line) {
    return fmt::format("--config {}:{}", file.string(), line);
  };
  std::istringstream in(bytes);
  std::string raw, section;
  const CLI::App* current = &app;
  std::map<std::string, std::size_t> seen;  // "section.key" -> line
  for (std::size_t line = 1; std::getline(in, raw); ++line) {
    const std::string s = trim(raw);
    if (s.empty() || s[0] == '#' || s[0] == ';') continue;
    if (s[0] == '[') {
      if (s.back() != ']')
        throw InvalidArgument(
            fmt::format("{}: section header '{}' is not closed with ']'", where(line), s));
      section = trim(s.substr(1, s.size() - 2));
      if (section == "default" || section.empty()) {
        current = &app;
        continue;
      }
      const auto it = sections.find(section);
      if (it == sections.end()) {
        std::vector<std::string> valid;
        for (const auto& [name, sub] : sections) valid.push_back(name);
        throw InvalidArgument(fmt::format("{}: [{}] is not a command; valid sections: {}",
                                          where(line), section, fmt::join(valid, ", ")));
      }
      current = it->second;
      continue;
    }
    const auto eq = s.find('=');
    if (eq == std::string::npos)
      throw InvalidArgument(
          fmt::format("{}: '{}' is not a 'key = value' line", where(line), s.substr(0, 60)));
    std::string key = trim(s.substr(0, eq));
    if (trim(s.substr(eq + 1)).empty())
      throw InvalidArgument(fmt::format("{}: key '{}' has no value", where(line), key));
    const CLI::App* owner = current;
    if (const auto dot = key.rfind('.'); dot != std::string::npos) {  // sample.n = 10
      const std::string path = (section.empty() ? "" : section + ".") + key.substr(0, dot);
      const auto it = sections.find(path);
      if (it == sections.end())
        throw InvalidArgument(
            fmt::format("{}: '{}' names no command ('{}')", where(line), key, path));
      owner = it->second;
    }
    if (!has_option(*owner, key.substr(key.rfind('.') + 1)))
      throw InvalidArgument(
          fmt::format("{}: '{}' is not an option of {}; valid keys: {}", where(line), key,
                      section.empty() ? "scoreflow (outside a [section])" : "[" + section + "]",
                      fmt::join(option_names(*owner), ", ")));
    const auto [it, fresh] = seen.emplace(section + "." + key, line);
    if (!fresh)
      throw InvalidArgument(
          fmt::format("{}: '{}' is given twice (first on line {})", where(line), key, it->second));
  }
}

}  // namespace sf
