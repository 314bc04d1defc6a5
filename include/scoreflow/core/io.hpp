// Files: atomic writes (temp file then rename), CSV traces, JSON, run directories.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sf {

std::string read_file(const std::filesystem::path& path);
// Writes to a temporary file beside `path`, then renames: readers never see half a file.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);

void write_json(const std::filesystem::path& path, const nlohmann::json& j);
// A JSON library error in words a user can act on, without its "[json.exception...]" code:
// "key 'net' is missing", "expected an object, found a number".
std::string json_error_text(const nlohmann::json::exception& e);
nlohmann::json read_json(const std::filesystem::path& path);

// A table of numbers with named columns, kept in memory and written as CSV.
class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<double> row);
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<double>>& rows() const { return rows_; }
  std::string to_csv() const;
  void write(const std::filesystem::path& path) const;
  static CsvTable read(const std::filesystem::path& path);
  // Index of a column, or throws naming the valid columns.
  std::size_t column(const std::string& name) const;
  bool has(const std::string& name) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<double>> rows_;
};

enum class RunDirMode { fresh, force, resume };
// Every run directory scoreflow creates holds this marker; `force` replaces only a directory
// that has it, so a user's own directory (or home) is never deleted.
inline constexpr const char* kRunDirMarker = ".scoreflow-run";
// Creates the run directory and its marker. An existing non-empty directory is refused unless
// `force` (its contents are replaced) or `resume` (kept), and then only if scoreflow wrote it.
// `resumable`: the command has --resume, so the refusal may suggest it.
void prepare_run_dir(const std::filesystem::path& dir, RunDirMode mode, bool resumable = false);

}  // namespace sf
