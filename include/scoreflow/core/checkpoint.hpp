// Checkpoints committed as a whole. The files of a checkpoint are written into a staging
// directory; a manifest with every file's size and checksum is written last; the directory is
// renamed into place, and then the pointer file `checkpoint.json` is replaced by one rename,
// which is the single commit point. A process killed at any instant leaves either the previous
// checkpoint or the new one, complete, never a mix of the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sf {

// The pointer file in a run directory naming its committed checkpoint.
inline constexpr const char* kCheckpointPointer = "checkpoint.json";

class CheckpointWriter {
 public:
  // Stages checkpoint `step` of run_dir (removing a stale staging directory of a killed run).
  CheckpointWriter(std::filesystem::path run_dir, std::size_t step);
  // Where the checkpoint's files go (subdirectories are allowed).
  const std::filesystem::path& dir() const { return staging_; }
  // Writes the manifest with `meta`, moves the directory into place, repoints
  // checkpoint.json at it and removes the checkpoint it replaces.
  void commit(const nlohmann::json& meta);

 private:
  std::filesystem::path run_dir_, staging_;
  std::size_t step_;
};

struct Checkpoint {
  std::filesystem::path dir;  // the committed checkpoint's files
  std::size_t step = 0;
  nlohmann::json meta;
};

// The committed checkpoint of run_dir, verified against its manifest (every file present
// with its size and checksum); nullopt when none was ever committed. Throws FormatError,
// naming the file, on a checkpoint that was damaged after it was written.
std::optional<Checkpoint> read_checkpoint(const std::filesystem::path& run_dir);

// The step of run_dir's committed checkpoint from its pointer file alone (no verification):
// for a writer deciding whether a step is already saved. nullopt when none was committed.
std::optional<std::size_t> committed_step(const std::filesystem::path& run_dir);

// Refuses to resume the run in run_dir with options other than those it was started with,
// naming each differing key (a JSON pointer) with its saved and given values.
void check_resume_options(std::string_view who, const std::filesystem::path& run_dir,
                          const nlohmann::json& saved, const nlohmann::json& given);

// Removes what a killed run left half-written in run_dir: staging directories, checkpoint
// directories that checkpoint.json no longer names, and temporary files of atomic writes.
void remove_stale_files(const std::filesystem::path& run_dir);

// 64-bit FNV-1a of a file's bytes (the manifest's checksum).
std::uint64_t file_checksum(const std::filesystem::path& file);

// Test hook: when the environment variable SCOREFLOW_CRASH_AT is "label" or "label:k", the
// process kills itself with SIGKILL the first (or k-th) time it passes crash_point(label), so
// tests can stop a run at an exact point of a checkpoint commit. A no-op otherwise.
void crash_point(const char* label);

}  // namespace sf
