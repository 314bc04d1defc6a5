// The command line as a user meets it: exit codes, messages and files.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <csignal>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>

using namespace sf;
namespace fs = std::filesystem;

#include "cli_helpers.hpp"

using sf::test::Cli;
using sf::test::expect_error;
using sf::test::kKilledBySigkill;
using sf::test::scoreflow;

TEST_F(Cli, BadInputGivesAMessageAndNonZeroExit) {
  expect_error(scoreflow("sample --target nope " + out("a")),
               "unknown target 'nope'; valid targets:");
  expect_error(scoreflow("sample --target gmm-grid16 --init gauss:d=3 " + out("b")),
               "has dimension 3, but the target has dimension 2");
  expect_error(scoreflow("sample --step-size 0 " + out("c")),
               "step_size is 0, but must be positive and finite (given as --step-size 0)");
  expect_error(scoreflow("sample --step-size -0.5 " + out("d")), "is -0.5, but must be positive");
  expect_error(scoreflow("sample --n 0 " + out("e")), "--n is 0, but must be at least 1");
  expect_error(scoreflow("sample --sampler hmc " + out("f")),
               "valid samplers: ula, mala, annealed-ula, ais, wfr, birth-death, birth-death-kl, "
               "fk-corrector");
  expect_error(scoreflow("sample --n 1000000000 --target gauss:d=100 " + out("g")), "GB");
  expect_error(scoreflow("sample --n abc"), "abc");
  expect_error(scoreflow("frobnicate"), "frobnicate");
  EXPECT_FALSE(fs::exists(dir / "a"));
}

TEST_F(Cli, MalformedInitialFileIsRejected) {
  write_file_atomic(dir / "bad.npy", "not an npy file");
  expect_error(scoreflow("sample --init-file " + (dir / "bad.npy").string() + " " + out("r")),
               "magic");
  const std::vector<double> v(6, 0.0);
  write_npy(dir / "x3.npy", {2, 3}, v.data());
  expect_error(
      scoreflow("sample --target gmm4 --init-file " + (dir / "x3.npy").string() + " " + out("r2")),
      "dimension 3, but the target has dimension 2");
  const std::vector<double> with_nan{0.0, 1.0, NAN, 2.0};
  write_npy(dir / "nan.npy", {2, 2}, with_nan.data());
  expect_error(scoreflow("sample --target gmm4 --n 2 --init-file " + (dir / "nan.npy").string() +
                         " " + out("r3")),
               "row 1 has a NaN or infinite value");
  expect_error(scoreflow("estimate kde --data " + (dir / "nan.npy").string() + " " + out("r4")),
               "row 1 has a NaN or infinite value");
}

TEST_F(Cli, DivergenceStopsWithStepNumberAndHint) {
  expect_error(
      scoreflow("sample --target gauss:d=2,var=0.01 --step-size 5 --steps 100000 -q --no-plot " +
                out("div")),
      "blew up at step");
}

TEST_F(Cli, SampleWritesTheRunDirectoryAndRefusesToOverwrite) {
  const auto r = scoreflow(
      "sample --target gmm4 --sampler mala --n 300 --steps 40 --step-size 0.01 -q " + out("run"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"samples.npy", "trace.csv", "summary.json", "particles.png", "metrics.png"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;
  const NpyArray s = read_npy(dir / "run" / "samples.npy");
  EXPECT_EQ(s.shape, (std::vector<std::size_t>{300, 2}));
  const auto summary = read_json(dir / "run" / "summary.json");
  EXPECT_EQ(summary["options"]["seed"], 0);
  EXPECT_TRUE(summary["metrics"].contains("mmd2"));
  const CsvTable trace = CsvTable::read(dir / "run" / "trace.csv");
  EXPECT_FALSE(std::isnan(trace.rows().back()[trace.column("acceptance")]));
  expect_error(scoreflow("sample --target gmm4 -q " + out("run")), "--force");
  EXPECT_EQ(scoreflow("sample --target gmm4 --n 300 --steps 40 -q --force " + out("run")).code, 0);
  EXPECT_EQ(scoreflow("plot " + (dir / "run").string()).code, 0);
}

TEST_F(Cli, ThreadCountDoesNotChangeResults) {
  const std::string common =
      "sample --target banana --sampler mala --n 2000 --steps 30 -q --no-plot --seed 4 ";
  ASSERT_EQ(scoreflow(common + "--threads 1 " + out("t1")).code, 0);
  ASSERT_EQ(scoreflow(common + "--threads 2 " + out("t2")).code, 0);
  EXPECT_EQ(read_file(dir / "t1" / "samples.npy"), read_file(dir / "t2" / "samples.npy"));
}

TEST_F(Cli, ResumeFromCheckpointIsBitIdentical) {
  const std::string common =
      "sample --target gmm-grid16 --n 400 --steps 100 --snapshots 2 -q --no-plot --seed 2 ";
  ASSERT_EQ(scoreflow(common + out("full")).code, 0);
  // Killed just after committing its checkpoint of step 50 (of 10, 20, ...).
  ASSERT_EQ(scoreflow(common + out("cut"), "SCOREFLOW_CRASH_AT=checkpoint-committed:5").code,
            kKilledBySigkill);
  ASSERT_FALSE(fs::exists(dir / "cut" / "samples.npy"));
  const auto r = scoreflow(common + "--resume " + out("cut"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "full" / "samples.npy"), read_file(dir / "cut" / "samples.npy"));
  EXPECT_EQ(read_json(dir / "cut" / "summary.json")["resumed_from_step"], 50);
  expect_error(scoreflow("sample --target gmm-grid16 --n 400 --steps 100 --seed 3 -q --resume " +
                         out("cut")),
               "options differ");
}

TEST_F(Cli, ConfigFileSetsOptions) {
  write_file_atomic(dir / "run.toml",
                    "[sample]\ntarget = \"mix1d-near\"\nn = 200\nsteps = 20\nstep-size = 0.1\n");
  const auto r = scoreflow("--config " + (dir / "run.toml").string() + " sample -q " + out("cfg"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_json(dir / "cfg" / "summary.json")["options"]["target"], "mix1d-near");
  EXPECT_EQ(read_npy(dir / "cfg" / "samples.npy").shape[0], 200u);
}

TEST_F(Cli, TargetsDataAndKdeEstimate) {
  const auto t = scoreflow("targets");
  EXPECT_EQ(t.code, 0);
  EXPECT_NE(t.output.find("many-well"), std::string::npos);
  ASSERT_EQ(scoreflow("data moons --n 500 --out " + (dir / "moons.npy").string()).code, 0);
  EXPECT_EQ(read_npy(dir / "moons.npy").shape, (std::vector<std::size_t>{500, 2}));
  const auto e =
      scoreflow("estimate kde --data " + (dir / "moons.npy").string() + " " + out("kde"));
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_EQ(read_npy(dir / "kde" / "score.npy").shape, (std::vector<std::size_t>{500, 2}));
  expect_error(scoreflow("data moon --n 5 --out " + (dir / "m.npy").string()), "valid data sets");
}

// With 20,000 points the lattice pays: every query within --kde-tol of the exact sums
// (--kde-tol 0), and the summary says how many queries it answered.
TEST_F(Cli, KdeEstimateThroughTheLatticeStaysWithinItsTolerance) {
  ASSERT_EQ(scoreflow("data moons --n 20000 --out " + (dir / "moons.npy").string()).code, 0);
  const std::string data = "estimate kde --data " + (dir / "moons.npy").string();
  ASSERT_EQ(scoreflow(data + " --kde-tol 1e-6 " + out("fast")).code, 0);
  ASSERT_EQ(scoreflow(data + " --kde-tol 0 " + out("exact")).code, 0);
  const auto summary = read_json(dir / "fast" / "summary.json");
  EXPECT_GT(summary["lattice_queries"].get<std::size_t>(), 10000u);
  EXPECT_EQ(read_json(dir / "exact" / "summary.json")["lattice_queries"], 0);
  const double h = summary["bandwidth"].get<double>();
  const NpyArray lf = read_npy(dir / "fast" / "log_density.npy");
  const NpyArray le = read_npy(dir / "exact" / "log_density.npy");
  const NpyArray sf_ = read_npy(dir / "fast" / "score.npy");
  const NpyArray se = read_npy(dir / "exact" / "score.npy");
  for (std::size_t i = 0; i < le.values.size(); ++i) {
    ASSERT_NEAR(lf.values[i], le.values[i], 1.01e-6) << i;
    const double scale = std::max(std::hypot(se.values[2 * i], se.values[2 * i + 1]), 1 / h);
    ASSERT_LE(std::hypot(sf_.values[2 * i] - se.values[2 * i],
                         sf_.values[2 * i + 1] - se.values[2 * i + 1]),
              1.01e-6 * scale)
        << i;
  }
  expect_error(scoreflow(data + " --kde-tol 1.5 " + out("bad")),
               "kde_tol is 1.5, but must be a relative error in [0, 1)");
  expect_error(scoreflow("sample --sampler wfr --kde-tol -1 " + out("bad2")),
               "kde_tol is -1, but must be a relative error in [0, 1) (0: exact sums)");
}

// In 6-D the lattice does not apply; at --kde-tol 1e-4 float32 kernels answer, each query within
// the tolerance of the exact sums.
TEST_F(Cli, KdeEstimateInSixDimensionsThroughFloat32KernelsStaysWithinItsTolerance) {
  const std::size_t n = 2000, d = 6;
  std::vector<double> x(n * d);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * i) + std::cos(1.91 * i * i);
  write_npy(dir / "x6.npy", {n, d}, x.data());
  const std::string data = "estimate kde --data " + (dir / "x6.npy").string();
  ASSERT_EQ(scoreflow(data + " --kde-tol 1e-4 " + out("fast")).code, 0);
  ASSERT_EQ(scoreflow(data + " --kde-tol 0 " + out("exact")).code, 0);
  const auto summary = read_json(dir / "fast" / "summary.json");
  EXPECT_GT(summary["float32_queries"].get<std::size_t>(), n * 9 / 10);
  EXPECT_EQ(summary["lattice_queries"], 0);
  EXPECT_EQ(read_json(dir / "exact" / "summary.json")["float32_queries"], 0);
  const double h = summary["bandwidth"].get<double>();
  const NpyArray lf = read_npy(dir / "fast" / "log_density.npy");
  const NpyArray le = read_npy(dir / "exact" / "log_density.npy");
  const NpyArray sf_ = read_npy(dir / "fast" / "score.npy");
  const NpyArray se = read_npy(dir / "exact" / "score.npy");
  EXPECT_NE(lf.values, le.values);
  for (std::size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(lf.values[i], le.values[i], 1.01e-4) << i;
    double err = 0, size = 0;
    for (std::size_t k = 0; k < d; ++k) {
      err += std::pow(sf_.values[i * d + k] - se.values[i * d + k], 2);
      size += std::pow(se.values[i * d + k], 2);
    }
    ASSERT_LE(std::sqrt(err), 1.01e-4 * std::max(std::sqrt(size), 1 / h)) << i;
  }
}

TEST_F(Cli, WeightedSamplersWriteWeightsAndResumeExactly) {
  const std::string base =
      "sample --target gmm4 --sampler wfr --density kde --n 300 --snapshots 2 -q --no-plot --seed "
      "3 "
      "--ess-threshold 0.7 --init gauss:d=2,mean=[0,8],var=[1.2,0.01] ";
  const std::string common = base + "--steps 60 ";
  ASSERT_EQ(scoreflow(common + out("full")).code, 0);
  const NpyArray w = read_npy(dir / "full" / "weights.npy");
  ASSERT_EQ(w.shape, (std::vector<std::size_t>{300}));
  double sum = 0;
  for (double v : w.values) sum += v;
  EXPECT_NEAR(sum, 1.0, 1e-12);
  const auto summary = read_json(dir / "full" / "summary.json");
  EXPECT_TRUE(summary["weighted"].get<bool>());
  EXPECT_TRUE(summary["metrics"].contains("ess"));
  EXPECT_TRUE(summary["metrics"].contains("log_z_is_error"));
  const CsvTable trace = CsvTable::read(dir / "full" / "trace.csv");
  EXPECT_FALSE(std::isnan(trace.rows().back()[trace.column("ess")]));

  // Killed after committing step 30 (positions and log-weights), before step 60's commit.
  ASSERT_EQ(scoreflow(common + "--checkpoint-every 30 " + out("cut"),
                      "SCOREFLOW_CRASH_AT=checkpoint-renamed:2")
                .code,
            kKilledBySigkill);
  const auto r = scoreflow(common + "--checkpoint-every 30 --resume " + out("cut"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "full" / "samples.npy"), read_file(dir / "cut" / "samples.npy"));
  EXPECT_EQ(read_file(dir / "full" / "weights.npy"), read_file(dir / "cut" / "weights.npy"));
}

TEST_F(Cli, WeightedSamplerOptionsAreChecked) {
  expect_error(scoreflow("sample --sampler wfr --resampler bootstrap " + out("a")),
               "valid resamplers: systematic, stratified, residual, multinomial");
  expect_error(scoreflow("sample --sampler wfr --density knn " + out("b")),
               "valid: ula-kernel, kde");
  expect_error(scoreflow("sample --sampler wfr --ess-threshold 2 " + out("c")),
               "must lie in [0, 1]");
  expect_error(scoreflow("sample --sampler annealed-ula --path dilation --fk-weights " + out("d")),
               "use --path geometric");
  expect_error(scoreflow("experiment e9 --out " + (dir / "e9").string()),
               "is not implemented; implemented: e");
}

TEST_F(Cli, AnnealedFeynmanKacReportsLogZ) {
  const auto r = scoreflow(
      "sample --target double-well --sampler annealed-ula --fk-weights --n 2000 --steps 1000 "
      "--step-size 0.005 -q --no-plot " +
      out("fk"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto m = read_json(dir / "fk" / "summary.json")["metrics"];
  EXPECT_NEAR(m["log_z_fk_error"].get<double>(), 0.0, 0.15);
}

TEST_F(Cli, FeynmanKacCorrectorSamplesATemperedMixture) {
  const auto r = scoreflow(
      "sample --target mix1d-near --sampler fk-corrector --anneal-beta 2 --n 2000 --steps 300 -q " +
      out("fkc"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "fkc" / "weights.npy"));
  const auto summary = read_json(dir / "fkc" / "summary.json");
  EXPECT_EQ(summary["sampler_config"]["beta"], 2.0);
  EXPECT_EQ(summary["target_power"], 2.0);
  EXPECT_TRUE(fs::exists(dir / "fkc" / "particles.png"));
  // The trace's KSD against π² reads the state's score: from N(0, 1) it falls as the
  // particles reach the tempered mixture (with a zero or stale score it did not).
  const CsvTable trace = CsvTable::read(dir / "fkc" / "trace.csv");
  const std::size_t ksd = trace.column("ksd2");
  const double first = trace.rows().front()[ksd], last = trace.rows().back()[ksd];
  std::printf("fk-corrector trace: KSD^2 %.4g at the start, %.4g at the end\n", first, last);
  EXPECT_TRUE(std::isfinite(first) && std::isfinite(last));
  EXPECT_LT(last, 0.1 * first);
  expect_error(scoreflow("sample --target banana --sampler fk-corrector " + out("x")),
               "not a Gaussian mixture");
  expect_error(
      scoreflow("sample --target gmm4 --sampler fk-corrector --init gauss:d=2 " + out("y")),
      "drop --init");
  expect_error(scoreflow("sample --target gmm4 --sampler fk-corrector --anneal-beta 0 " + out("z")),
               "beta is 0, but must be positive and finite (given as --anneal-beta 0)");
  // A flag that is not an option of the chosen sampler is refused, not ignored.
  expect_error(scoreflow("sample --sampler ula --density kde " + out("u1")),
               "unknown parameter 'density' for 'ula'; valid parameters: step_size");
  expect_error(scoreflow("sample --sampler wfr:step_size=0.1 --step-size 0.2 " + out("u2")),
               "sampler option step_size is given twice");
  expect_error(scoreflow("sample --sampler ula:step_size=[1,2] " + out("u3")),
               "not a finite number");
}

TEST_F(Cli, EstimateMalliavinWritesTheScoreAndItsReference) {
  const auto r = scoreflow(
      "estimate malliavin --sde rational --x0 1 --T 0.5 --steps 100 --paths 20000 --points 21 " +
      out("m"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"score.npy", "stderr.npy", "at.npy", "reference.npy", "score.csv"})
    EXPECT_TRUE(fs::exists(dir / "m" / f)) << f;
  const auto s = read_json(dir / "m" / "summary.json");
  // A plumbing check (the statistical ones are in malliavin_stat_test): 20,000 paths give
  // standard errors near 0.004 and a kernel-smoothing bias near 0.02.
  EXPECT_LT(s["rmse_vs_fokker_planck"].get<double>(), 0.05);
  expect_error(scoreflow("estimate malliavin --sde cubc " + out("a")),
               "unknown forward SDE 'cubc'");
  expect_error(scoreflow("estimate malliavin --x0 1,x " + out("b")), "'x' is not a number");
  expect_error(scoreflow("estimate malliavin --steps 0 " + out("c")), "steps is 0");
  expect_error(scoreflow("estimate malliavin --T -1 " + out("d")), "horizon T is -1");
  expect_error(scoreflow("estimate malliavin --x0 1,2,3 " + out("e")), "give the query points");
  expect_error(scoreflow("estimate malliavin --paths 2000000000 --x0 1,2,3,4,5,6 " + out("f")),
               "GiB");
}

// The OU study of E5 end to end (about 2 s quick): every row finite, errors of the order of
// the reported standard errors.
TEST_F(Cli, ExperimentE5MeanValueQuick) {
  const auto r = scoreflow("experiment e5-meanvalue --quick " + out("e5"));
  ASSERT_EQ(r.code, 0) << r.output;
  const CsvTable t = CsvTable::read(dir / "e5" / "mean_value.csv");
  ASSERT_EQ(t.rows().size(), 8u);  // n ∈ {1, 2} × R ∈ {1, 3} × two draw counts
  for (const auto& row : t.rows()) {
    for (double v : row) EXPECT_TRUE(std::isfinite(v));
    EXPECT_LT(row[t.column("z_rms")], 3.0);
  }
}

TEST_F(Cli, EstimateHeatBallWritesEstimatesAgainstTheExactLaw) {
  const auto r = scoreflow("estimate heatball --samples 50000 --points 9 " + out("h"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"density.npy", "score.npy", "score_se.npy", "log_density.npy",
                        "entropy.npy", "at.npy", "estimates.csv"})
    EXPECT_TRUE(fs::exists(dir / "h" / f)) << f;
  const auto s = read_json(dir / "h" / "summary.json");
  EXPECT_EQ(s["reference"], "exact");
  // Plumbing only (heat_ball_estimator_test holds the statistical checks): 50,000 draws give
  // about 2 % density and 0.15 score standard errors here.
  EXPECT_LT(s["density_relative_rmse"].get<double>(), 0.1);
  EXPECT_LT(s["score_rmse"].get<double>(), 0.6);
  expect_error(scoreflow("estimate heatball --radius 5 " + out("a")), "use a radius <= 3.545");
  expect_error(scoreflow("estimate heatball --t 0 " + out("b")), "--t is 0");
  expect_error(scoreflow("estimate heatball --x0 1,2,3 " + out("c")), "give the query points");
  expect_error(scoreflow("estimate heatball --sde ou-cubic --steps 0 " + out("d")), "--steps is 0");
  expect_error(scoreflow("estimate heatball --tip 0 " + out("e")), "tip");
  EXPECT_FALSE(fs::exists(dir / "a"));  // checked before anything is written
}

// `--force` on a directory scoreflow did not write is refused and every file in it stays.
TEST_F(Cli, ForceLeavesAUsersDirectoryAlone) {
  const auto mine = dir / "mine";
  std::filesystem::create_directories(mine / "sub");
  write_file_atomic(mine / "notes.txt", "keep me");
  write_file_atomic(mine / "sub" / "data.csv", "1,2");
  expect_error(scoreflow("sample --steps 5 --force --quiet --no-plot --out " + mine.string()),
               "is not a scoreflow run directory");
  EXPECT_TRUE(std::filesystem::exists(mine / "notes.txt"));
  EXPECT_TRUE(std::filesystem::exists(mine / "sub" / "data.csv"));
  // A directory scoreflow wrote is replaced as before.
  const auto run = dir / "again";
  EXPECT_EQ(scoreflow("sample --steps 5 --quiet --no-plot --out " + run.string()).code, 0);
  EXPECT_EQ(scoreflow("sample --steps 5 --force --quiet --no-plot --out " + run.string()).code, 0);
}
