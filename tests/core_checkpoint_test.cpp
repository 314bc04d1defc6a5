// Checkpoints are committed as a whole and verified when read back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <scoreflow/core/checkpoint.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

using namespace sf;
namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("sf_ck_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  void commit(std::size_t step, const std::string& payload) {
    CheckpointWriter w(dir, step);
    fs::create_directories(w.dir() / "sub");
    write_file_atomic(w.dir() / "a.bin", payload);
    write_file_atomic(w.dir() / "sub" / "b.txt", payload + payload);
    w.commit({{"note", payload}});
  }
  fs::path dir;
};

TEST_F(CheckpointTest, NothingCommittedReadsAsNone) {
  EXPECT_FALSE(read_checkpoint(dir).has_value());
  CheckpointWriter w(dir, 7);  // staged, never committed: a kill before the commit
  write_file_atomic(w.dir() / "a.bin", "x");
  EXPECT_FALSE(read_checkpoint(dir).has_value());
}

TEST_F(CheckpointTest, TheLatestCommitIsReadBackAndTheOldOneRemoved) {
  commit(10, "first");
  commit(20, "second");
  const auto ck = read_checkpoint(dir);
  ASSERT_TRUE(ck.has_value());
  EXPECT_EQ(ck->step, 20u);
  EXPECT_EQ(ck->meta["note"], "second");
  EXPECT_EQ(read_file(ck->dir / "sub" / "b.txt"), "secondsecond");
  std::size_t checkpoints = 0;
  for (const auto& e : fs::directory_iterator(dir))
    checkpoints += e.path().filename().string().starts_with("checkpoint-");
  EXPECT_EQ(checkpoints, 1u);
}

TEST_F(CheckpointTest, AStagedCheckpointDoesNotReplaceTheCommittedOne) {
  commit(10, "first");
  CheckpointWriter w(dir, 20);
  write_file_atomic(w.dir() / "a.bin", "half-written");
  EXPECT_EQ(read_checkpoint(dir)->step, 10u);
  remove_stale_files(dir);
  EXPECT_FALSE(fs::exists(w.dir()));
  EXPECT_EQ(read_checkpoint(dir)->step, 10u);
}

TEST_F(CheckpointTest, ADamagedFileIsRefusedNamingIt) {
  commit(10, "payload");
  const fs::path f = read_checkpoint(dir)->dir / "a.bin";
  {
    std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(2);
    io.put('X');  // same size, other bytes
  }
  try {
    read_checkpoint(dir);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("a.bin"), std::string::npos) << e.what();
  }
  fs::remove(f);
  EXPECT_THROW(read_checkpoint(dir), FormatError);
}

TEST_F(CheckpointTest, StaleFilesOfAKilledRunAreRemovedAndUserFilesKept) {
  commit(10, "kept");
  write_file_atomic(dir / "notes.txt", "mine");
  write_file_atomic(dir / "samples.npy.tmp1234", "half");
  fs::create_directories(dir / "checkpoint-0000000005");  // superseded, not yet removed
  fs::create_directories(dir / "snapshots");
  write_file_atomic(dir / "snapshots" / "step_1.npy.tmp99", "half");
  remove_stale_files(dir);
  EXPECT_TRUE(fs::exists(dir / "notes.txt"));
  EXPECT_FALSE(fs::exists(dir / "samples.npy.tmp1234"));
  EXPECT_FALSE(fs::exists(dir / "checkpoint-0000000005"));
  EXPECT_FALSE(fs::exists(dir / "snapshots" / "step_1.npy.tmp99"));
  EXPECT_EQ(read_checkpoint(dir)->step, 10u);
}

TEST_F(CheckpointTest, ChecksumIsFnv1a) {
  write_file_atomic(dir / "a", "a");
  EXPECT_EQ(file_checksum(dir / "a"), 0xaf63dc4c8601ec8cULL);  // FNV-1a 64 of "a"
  write_file_atomic(dir / "e", "");
  EXPECT_EQ(file_checksum(dir / "e"), 0xcbf29ce484222325ULL);
}
