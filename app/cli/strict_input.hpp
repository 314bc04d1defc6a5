// Command-line input is refused, never reinterpreted: numbers that wrap, overflow or are not
// finite, and config files with unknown sections or keys, name what is wrong and what is valid.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace sf {

// Every unsigned flag of `app` and its subcommands takes only whole numbers in
// [0, 2^64 - 1], every signed one only whole numbers in the int32 range, every real one only
// finite numbers ("-1" for a count no longer wraps to 2^64 - 1; "nan" is no bandwidth).
void make_numbers_strict(CLI::App& app);

// The file given as --config FILE or --config=FILE, if any.
std::optional<std::filesystem::path> config_file_argument(int argc, char** argv);

// Reads a config file as CLI11 will and refuses, naming the line, what CLI11 would ignore:
// binary data, an unclosed [section], a section that is not a command, a key that is not an
// option of its command, a line without "key = value", and a key given twice.
void check_config_file(const std::filesystem::path& file, const CLI::App& app);

}  // namespace sf
