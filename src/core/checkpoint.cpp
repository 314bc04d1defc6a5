#include <scoreflow/core/checkpoint.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

namespace sf {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifest = "manifest.json";
constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kStagingSuffix = ".partial";

std::string checkpoint_name(std::size_t step) {
  return fmt::format("{}{:010d}", kPrefix, step);
}

// Flushes a file or directory to disk, so that a rename that follows is not ordered before
// the data it publishes (ext4 and others may otherwise commit the rename first).
void sync_path(const fs::path& p) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0) throw IoError(fmt::format("cannot open '{}' to flush it to disk", p.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw IoError(fmt::format("flushing '{}' to disk failed", p.string()));
}

// Every regular file under dir, relative to it, in a fixed order.
std::vector<fs::path> files_under(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), dir));
  std::sort(files.begin(), files.end());
  return files;
}

bool is_temporary_name(const std::string& name) {
  // write_file_atomic's "<name>.tmp<pid>", the trainer's "<name>.tmp", staging directories.
  const auto at = name.rfind(".tmp");
  const bool tmp =
      at != std::string::npos && name.find_first_not_of("0123456789", at + 4) == std::string::npos;
  return tmp || name.ends_with(kStagingSuffix);
}

// The committed checkpoint's directory and step as checkpoint.json names them; nullopt when
// there is no pointer file.
struct Pointer {
  fs::path dir;
  std::size_t step;
};

std::optional<Pointer> read_pointer(const fs::path& run_dir) {
  const fs::path pointer = run_dir / kCheckpointPointer;
  if (!fs::exists(pointer)) return std::nullopt;
  const auto p = read_json(pointer);
  if (!p.is_object() || !p.contains("dir") || !p["dir"].is_string() ||
      p["dir"].get<std::string>().find('/') != std::string::npos || !p.contains("step") ||
      !p["step"].is_number_unsigned())
    throw FormatError(
        fmt::format("{}: not a checkpoint pointer written by this version of scoreflow (expected "
                    "{{\"dir\": \"checkpoint-...\", \"step\": k}})",
                    pointer.string()));
  return Pointer{run_dir / p["dir"].get<std::string>(), p["step"].get<std::size_t>()};
}

}  // namespace

std::optional<std::size_t> committed_step(const fs::path& run_dir) {
  const auto p = read_pointer(run_dir);
  return p ? std::optional(p->step) : std::nullopt;
}

void check_resume_options(std::string_view who, const fs::path& run_dir,
                          const nlohmann::json& saved, const nlohmann::json& given) {
  if (saved == given) return;
  std::vector<std::string> diffs;
  for (const auto& op : nlohmann::json::diff(saved, given)) {
    const nlohmann::json::json_pointer at(op.at("path").get<std::string>());
    const auto value = [&](const nlohmann::json& j) {
      return j.contains(at) ? j.at(at).dump() : std::string("nothing");
    };
    diffs.push_back(
        fmt::format("{} (saved {}, given {})", at.to_string(), value(saved), value(given)));
  }
  throw InvalidArgument(fmt::format(
      "{} --resume: the options differ from those of the run in '{}': {}; resume with the run's "
      "own options",
      who, run_dir.string(), fmt::join(diffs, "; ")));
}

std::uint64_t file_checksum(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) throw IoError(fmt::format("cannot open '{}' for reading", file.string()));
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::vector<unsigned char> buf(1 << 16);
  for (;;) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0) {
      ::close(fd);
      throw IoError(fmt::format("reading '{}' failed", file.string()));
    }
    if (got == 0) break;
    for (ssize_t i = 0; i < got; ++i) h = (h ^ buf[static_cast<std::size_t>(i)]) * 0x100000001b3ULL;
  }
  ::close(fd);
  return h;
}

CheckpointWriter::CheckpointWriter(fs::path run_dir, std::size_t step)
    : run_dir_(std::move(run_dir)),
      staging_(run_dir_ / (checkpoint_name(step) + kStagingSuffix)),
      step_(step) {
  fs::remove_all(staging_);
  fs::create_directories(staging_);
}

void CheckpointWriter::commit(const nlohmann::json& meta) {
  crash_point("checkpoint-files");
  nlohmann::json files = nlohmann::json::array();
  for (const auto& rel : files_under(staging_)) {
    const fs::path f = staging_ / rel;
    sync_path(f);
    files.push_back({{"path", rel.string()},
                     {"size", fs::file_size(f)},
                     {"fnv1a64", fmt::format("{:016x}", file_checksum(f))}});
  }
  write_json(staging_ / kManifest, {{"step", step_}, {"meta", meta}, {"files", files}});
  sync_path(staging_);
  crash_point("checkpoint-manifest");
  const fs::path final_dir = run_dir_ / checkpoint_name(step_);
  const auto previous = read_pointer(run_dir_);
  if (previous && previous->dir == final_dir) {
    // Runs are deterministic: the committed checkpoint of this step holds the same state.
    fs::remove_all(staging_);
    return;
  }
  fs::remove_all(final_dir);  // left by a run killed before it was committed
  fs::rename(staging_, final_dir);
  sync_path(run_dir_);
  crash_point("checkpoint-renamed");
  write_json(run_dir_ / kCheckpointPointer,
             {{"dir", final_dir.filename().string()}, {"step", step_}});
  sync_path(run_dir_);
  crash_point("checkpoint-committed");
  if (previous) fs::remove_all(previous->dir);
}

std::optional<Checkpoint> read_checkpoint(const fs::path& run_dir) {
  const auto p = read_pointer(run_dir);
  if (!p) return std::nullopt;
  const fs::path pointer = run_dir / kCheckpointPointer;
  Checkpoint ck;
  ck.dir = p->dir;
  const fs::path manifest = ck.dir / kManifest;
  if (!fs::exists(manifest))
    throw FormatError(fmt::format("{} names '{}', which has no {}: the checkpoint was damaged",
                                  pointer.string(), ck.dir.string(), kManifest));
  const auto m = read_json(manifest);
  try {
    ck.step = m.at("step").get<std::size_t>();
    ck.meta = m.at("meta");
    for (const auto& f : m.at("files")) {
      const fs::path file = ck.dir / f.at("path").get<std::string>();
      if (!fs::exists(file))
        throw FormatError(fmt::format("checkpoint file '{}' is missing", file.string()));
      if (fs::file_size(file) != f.at("size").get<std::uintmax_t>() ||
          fmt::format("{:016x}", file_checksum(file)) != f.at("fnv1a64").get<std::string>())
        throw FormatError(fmt::format(
            "checkpoint file '{}' changed after it was written (size or checksum differs from {})",
            file.string(), manifest.string()));
    }
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(fmt::format("{}: malformed manifest: {}", manifest.string(), e.what()));
  }
  if (p->step != ck.step)
    throw FormatError(fmt::format("{} says step {}, but its manifest says step {}",
                                  pointer.string(), p->step, ck.step));
  return ck;
}

void remove_stale_files(const fs::path& run_dir) {
  if (!fs::is_directory(run_dir)) return;
  std::optional<fs::path> live;
  if (const auto p = read_pointer(run_dir)) live = p->dir;
  std::vector<fs::path> doomed;
  for (auto it = fs::recursive_directory_iterator(run_dir);
       it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    const bool stale_checkpoint =
        it.depth() == 0 && it->is_directory() && name.starts_with(kPrefix) && it->path() != live;
    if (stale_checkpoint || is_temporary_name(name)) {
      doomed.push_back(it->path());
      if (it->is_directory()) it.disable_recursion_pending();
    }
  }
  for (const auto& p : doomed) fs::remove_all(p);
}

void crash_point(const char* label) {
  static const std::string spec = [] {
    const char* s = std::getenv("SCOREFLOW_CRASH_AT");
    return std::string(s ? s : "");
  }();
  if (spec.empty()) return;
  const auto colon = spec.rfind(':');
  const bool counted = colon != std::string::npos &&
                       spec.find_first_not_of("0123456789", colon + 1) == std::string::npos;
  const std::string name = counted ? spec.substr(0, colon) : spec;
  if (name != label) return;
  static std::atomic<long> passes{0};
  const long wanted = counted ? std::stol(spec.substr(colon + 1)) : 1;
  if (++passes == wanted) ::raise(SIGKILL);
}

}  // namespace sf
