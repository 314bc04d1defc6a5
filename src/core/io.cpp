#include <scoreflow/core/io.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw IoError(
        fmt::format("cannot open '{}' for reading: no such file or no permission", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + fmt::format(".tmp{}", ::getpid());
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f)
      throw IoError(
          fmt::format("cannot write '{}': directory missing or not writable", path.string()));
    const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
                    std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
    std::fclose(f);
    if (!ok) {
      fs::remove(tmp);
      throw IoError(fmt::format("writing '{}' failed (disk full?)", path.string()));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec)
    throw IoError(fmt::format("cannot move '{}' into place: {}", path.string(), ec.message()));
}

void write_json(const fs::path& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

std::string json_error_text(const nlohmann::json::exception& e) {
  std::string text = e.what();
  if (const auto close = text.find("] ");
      text.starts_with("[json.exception") && close != std::string::npos)
    text = text.substr(close + 2);
  if (const auto at = text.find("cannot use at() with "); at != std::string::npos)
    return "expected an object with named keys, found " + text.substr(at + 21);
  if (text.starts_with("key '") && text.ends_with("' not found"))
    return text.substr(0, text.size() - 10) + " is missing";
  return text;
}

nlohmann::json read_json(const fs::path& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(fmt::format("{}: not valid JSON: {}", path.string(), json_error_text(e)));
  }
}

void CsvTable::add_row(std::vector<double> row) {
  if (row.size() != columns_.size())
    throw InvalidArgument(fmt::format("CsvTable: row has {} values, table has {} columns",
                                      row.size(), columns_.size()));
  rows_.push_back(std::move(row));
}

std::string CsvTable::to_csv() const {
  std::string out;
  for (std::size_t c = 0; c < columns_.size(); ++c) out += (c ? "," : "") + columns_[c];
  out += '\n';
  for (const auto& r : rows_) {
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (c) out += ',';
      out += std::isnan(r[c]) ? std::string() : fmt::format("{:.10g}", r[c]);
    }
    out += '\n';
  }
  return out;
}

void CsvTable::write(const fs::path& path) const {
  write_file_atomic(path, to_csv());
}

CsvTable CsvTable::read(const fs::path& path) {
  std::istringstream in(read_file(path));
  std::string line;
  if (!std::getline(in, line)) throw FormatError(fmt::format("{}: empty CSV file", path.string()));
  // Files written on Windows (or by Python's csv module) end lines with \r\n.
  auto strip_cr = [](std::string& l) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  };
  strip_cr(line);
  std::vector<std::string> cols;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) cols.push_back(c);
  CsvTable t(cols);
  std::size_t lineno = 1;
  while (std::getline(in, line)) {
    ++lineno;
    strip_cr(line);
    if (line.empty()) continue;
    std::vector<double> row;
    std::size_t start = 0;
    while (start <= line.size()) {
      const auto end = std::min(line.find(',', start), line.size());
      const std::string cell = line.substr(start, end - start);
      try {
        row.push_back(cell.empty() ? NAN : std::stod(cell));
      } catch (const std::exception&) {
        throw FormatError(fmt::format("{}:{}: '{}' is not a number", path.string(), lineno, cell));
      }
      start = end + 1;
    }
    if (row.size() != cols.size())
      throw FormatError(fmt::format("{}:{}: {} values, but the header has {} columns",
                                    path.string(), lineno, row.size(), cols.size()));
    t.rows_.push_back(std::move(row));
  }
  return t;
}

std::size_t CsvTable::column(const std::string& name) const {
  for (std::size_t c = 0; c < columns_.size(); ++c)
    if (columns_[c] == name) return c;
  throw InvalidArgument(
      fmt::format("no column '{}' (columns: {})", name, fmt::join(columns_, ", ")));
}

bool CsvTable::has(const std::string& name) const {
  return std::find(columns_.begin(), columns_.end(), name) != columns_.end();
}

void prepare_run_dir(const fs::path& dir, RunDirMode mode, bool resumable) {
  if (fs::exists(dir) && !fs::is_directory(dir))
    throw IoError(fmt::format("output '{}' exists and is not a directory", dir.string()));
  // A directory holding only the marker is a run that failed before writing anything: a rerun
  // may use it without --force.
  bool non_empty = false;
  if (fs::exists(dir))
    for (const auto& e : fs::directory_iterator(dir))
      non_empty = non_empty || e.path().filename() != kRunDirMarker;
  const bool ours = fs::exists(dir / kRunDirMarker);
  if (non_empty && mode == RunDirMode::fresh)
    throw InvalidArgument(fmt::format(
        "run directory '{}' already exists and is not empty; pass --force to overwrite it{}, or "
        "choose another --out",
        dir.string(), resumable ? " or --resume to continue its run" : ""));
  if (non_empty && !ours && mode != RunDirMode::fresh)
    throw InvalidArgument(fmt::format(
        "{}: '{}' is not a scoreflow run directory (it has no {} marker), so it is left "
        "untouched; choose another output directory, or empty this one yourself",
        mode == RunDirMode::force ? "--force" : "--resume", dir.string(), kRunDirMarker));
  if (mode == RunDirMode::resume && !fs::exists(dir))
    throw InvalidArgument(fmt::format(
        "--resume: '{}' does not exist, so there is no run to continue; drop --resume to start it",
        dir.string()));
  if (non_empty && mode == RunDirMode::force) fs::remove_all(dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw IoError(fmt::format("cannot create run directory '{}': {}", dir.string(), ec.message()));
  if (!fs::exists(dir / kRunDirMarker))
    write_file_atomic(dir / kRunDirMarker,
                      "written by scoreflow: --force may replace this directory\n");
}

}  // namespace sf
