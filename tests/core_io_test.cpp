#include <gtest/gtest.h>

#include <filesystem>

#include <scoreflow/core/allocator.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>

using namespace sf;
namespace fs = std::filesystem;

class IoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("sf_io_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(IoTest, AtomicWriteLeavesNoTemporaryFile) {
  write_file_atomic(dir / "x.txt", "hello");
  EXPECT_EQ(read_file(dir / "x.txt"), "hello");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u);
}

TEST_F(IoTest, AtomicWriteIntoMissingDirectoryFails) {
  EXPECT_THROW(write_file_atomic(dir / "nope" / "x.txt", "a"), IoError);
}

TEST_F(IoTest, CsvRoundTripWithMissingValues) {
  CsvTable t({"step", "value"});
  t.add_row({0, 1.5});
  t.add_row({1, NAN});
  t.write(dir / "t.csv");
  const CsvTable r = CsvTable::read(dir / "t.csv");
  ASSERT_EQ(r.rows().size(), 2u);
  EXPECT_EQ(r.rows()[0][1], 1.5);
  EXPECT_TRUE(std::isnan(r.rows()[1][1]));
  EXPECT_EQ(r.column("value"), 1u);
  EXPECT_THROW(r.column("nope"), InvalidArgument);
}

TEST_F(IoTest, CsvRejectsMalformedRows) {
  write_file_atomic(dir / "bad.csv", "a,b\n1,2\n3\n");
  try {
    CsvTable::read(dir / "bad.csv");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(":3:"), std::string::npos) << e.what();
  }
  write_file_atomic(dir / "bad2.csv", "a\nxyz\n");
  EXPECT_THROW(CsvTable::read(dir / "bad2.csv"), FormatError);
}

TEST_F(IoTest, RunDirectoryIsNotOverwrittenWithoutForce) {
  const fs::path run = dir / "run";
  prepare_run_dir(run, RunDirMode::fresh);
  write_file_atomic(run / "samples.npy", "data");
  try {
    prepare_run_dir(run, RunDirMode::fresh);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("--force"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(run / "samples.npy"));
  prepare_run_dir(run, RunDirMode::resume);
  EXPECT_TRUE(fs::exists(run / "samples.npy"));
  prepare_run_dir(run, RunDirMode::force);
  EXPECT_FALSE(fs::exists(run / "samples.npy"));
  EXPECT_TRUE(fs::exists(run / kRunDirMarker));
}

// --force replaces only what scoreflow wrote: a user's directory keeps every file.
TEST_F(IoTest, ForceNeverTouchesADirectoryScoreflowDidNotWrite) {
  const fs::path mine = dir / "mine";
  fs::create_directories(mine / "sub");
  write_file_atomic(mine / "thesis.tex", "precious");
  write_file_atomic(mine / "sub" / "data.csv", "1,2");
  try {
    prepare_run_dir(mine, RunDirMode::force);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("not a scoreflow run directory"), std::string::npos);
  }
  EXPECT_THROW(prepare_run_dir(mine, RunDirMode::resume), InvalidArgument);
  EXPECT_TRUE(fs::exists(mine / "thesis.tex"));
  EXPECT_TRUE(fs::exists(mine / "sub" / "data.csv"));
  EXPECT_FALSE(fs::exists(mine / kRunDirMarker));
}

TEST_F(IoTest, JsonParseErrorNamesTheFile) {
  write_file_atomic(dir / "x.json", "{not json");
  try {
    read_json(dir / "x.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos);
  }
}

TEST(Allocator, TunesGlibcAndRefusesWhatItCannotExpress) {
  // AddressSanitizer replaces malloc, and its allocator ignores mallopt.
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_TRUE(sf::tune_allocator());
#endif
  EXPECT_THROW(sf::tune_allocator({std::size_t{1} << 20, std::size_t{1} << 40}),
               sf::InvalidArgument);
  EXPECT_THROW(sf::tune_allocator({std::size_t{1} << 33, std::size_t{1} << 20}),
               sf::InvalidArgument);
}
