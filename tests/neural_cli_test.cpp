// `scoreflow train`, `generate` and `export` as a user meets them.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include "cli_helpers.hpp"

using namespace sf;
using sf::test::Cli;
using sf::test::expect_error;
using sf::test::scoreflow;
namespace fs = std::filesystem;

TEST_F(Cli, TrainAndGenerateBadInput) {
  expect_error(scoreflow("train --loss mse " + out("a")),
               "unknown loss 'mse'; valid losses: esm, ism");
  expect_error(scoreflow("train --data moonz " + out("b")), "unknown data 'moonz'");
  expect_error(scoreflow("train --lr 0 " + out("c")), "learning rate is 0, but must be positive");
  expect_error(scoreflow("train --loss esm --sde vp " + out("d")), "trains a score of x alone");
  expect_error(scoreflow("train --arch unet --data moons " + out("e")),
               "16×16 images (d = 256), not d = 2");
  expect_error(scoreflow("train --hidden 128,x " + out("f")), "'x' is not a positive integer");
  expect_error(scoreflow("generate --model " + dir.string() + " " + out("g")),
               "not a trained model directory");
  expect_error(scoreflow("generate --torchscript nope.pt " + out("h")),
               "--torchscript needs --dim");
  std::ofstream(dir / "junk.pt") << "junk";
  expect_error(
      scoreflow("generate --torchscript " + (dir / "junk.pt").string() + " --dim 2 " + out("i")),
      "is not a TorchScript module");
  expect_error(scoreflow("train --data moons --loss nc-dsm --dequantise on " + out("j")),
               "8-bit dequantisation needs pixels in [-1, 1]");
  expect_error(scoreflow("train --data moons --loss dsm --base gaussian " + out("k")),
               "a Gaussian base (--base gaussian) needs a noise-conditional model");
  // Runs refused by the trainer's checks leave no directory behind.
  for (const char* d : {"d", "j", "k"}) EXPECT_FALSE(fs::exists(dir / d)) << d;
}

// The residual penalties train end to end and are refused where they do not apply.
TEST_F(Cli, TrainWithFokkerPlanckResidualPenalties) {
  for (const char* kind : {"fp", "heatball"}) {
    const auto r = scoreflow(
        fmt::format("train --data 8gaussians --n 1000 --heldout-n 200 --loss nc-dsm --hidden 32,32 "
                    "--batch 64 --steps 20 --eval-every 10 --residual {} --residual-weight 0.1 "
                    "--residual-anchors 16 {}",
                    kind, out(kind)));
    ASSERT_EQ(r.code, 0) << r.output;
    const auto s = read_json(dir / kind / "summary.json");
    EXPECT_EQ(s["train"]["residual"], kind) << s.dump();
  }
  expect_error(scoreflow("train --loss dsm --residual heatball " + out("r1")), "use --loss nc-dsm");
  expect_error(scoreflow("train --loss nc-dsm --residual global " + out("r2")),
               "residual penalty 'global' is unknown; valid: none, fp, heatball");
  expect_error(
      scoreflow("train --loss nc-dsm --residual fp --residual-laplacian trace " + out("r3")),
      "Laplacian 'trace' is unknown; valid: auto, exact, hutchinson");
  // d = 256: auto takes the Hutchinson Laplacian (the exact one would be 65,536 passes).
  const auto r = scoreflow(
      "train --data mnist256 --arch mlp --loss nc-dsm --hidden 32 --batch 16 --steps 4 "
      "--eval-every 2 --residual fp --residual-weight 0.01 --residual-anchors 8 " +
      out("img"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(read_json(dir / "img" / "summary.json")["train"]["residual_laplacian"], "auto");
}

// E5's training comparison end to end (about 15 s quick): every method trains on both kinds
// of data, and the penalties shrink the Fokker–Planck residual they penalise.
TEST_F(Cli, ExperimentE5TrainQuick) {
  const auto r = scoreflow("experiment e5-train --quick " + out("e5"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto csv = read_file(dir / "e5" / "table.csv");
  for (const char* s : {"8gaussians,dsm,none", "8gaussians,dsm + fp λ=0.1,fp",
                        "8gaussians,dsm + heatball λ=0.1,heatball", "mnist256,dsm,none",
                        "mnist256,dsm + heatball λ=0.01"})
    EXPECT_NE(csv.find(s), std::string::npos) << s << "\n" << csv;
  // 2-D rows: only bits/dim is empty (nan); the penalised models have smaller FP residuals.
  // Columns are found by name so that a new column does not silently shift the checks.
  const auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::istringstream row(line);
    for (std::string c; std::getline(row, c, ',');) cells.push_back(c);
    return cells;
  };
  std::istringstream lines(csv);
  std::string header_line;
  std::getline(lines, header_line);
  const auto header = split(header_line);
  const auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    EXPECT_NE(it, header.end()) << name << " in " << header_line;
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t first_metric = column("score_error"), bpd = column("bits_per_dim"),
                    fp = column("fp_residual");
  std::map<std::string, double> residual;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("8gaussians")) continue;
    const auto cells = split(line);
    ASSERT_EQ(cells.size(), header.size()) << line;
    for (std::size_t i = first_metric; i < cells.size(); ++i)
      EXPECT_EQ(cells[i] == "nan", i == bpd) << header[i] << ": " << line;
    residual[cells[2]] = std::stod(cells[fp]);
  }
  EXPECT_LT(residual["fp"], residual["none"]);
  EXPECT_LT(residual["heatball"], residual["none"]);
  for (const char* f :
       {"score_error.png", "table.md", "8gaussians_dsm.png", "mnist256_heatball_0.01.png"})
    EXPECT_TRUE(fs::exists(dir / "e5" / f)) << f;
}

TEST_F(Cli, TrainGenerateResumeAndExport) {
  const std::string model = (dir / "m").string();
  const std::string common =
      "train --data 8gaussians --n 2000 --heldout-n 500 --loss nc-dsm --hidden 32,32 "
      "--batch 64 --eval-every 10 --checkpoint-every 20 --out " +
      model;
  auto r = scoreflow(common + " --steps 60 --stop-after 40");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f :
       {"model.pt", "model.json", "loss.csv", "loss.png", "summary.json", "checkpoint.json"})
    EXPECT_TRUE(fs::exists(dir / "m" / f)) << f;
  EXPECT_EQ(CsvTable::read(dir / "m" / "loss.csv").rows().size(), 4u);
  // Stopping at 40 and resuming equals training 60 steps at once.
  r = scoreflow(common + " --steps 60 --resume");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming"), std::string::npos) << r.output;
  r = scoreflow(
      "train --data 8gaussians --n 2000 --heldout-n 500 --loss nc-dsm --hidden 32,32 --batch 64 "
      "--eval-every 10 --checkpoint-every 20 --steps 60 " +
      out("once"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = CsvTable::read(dir / "m" / "loss.csv"),
             b = CsvTable::read(dir / "once" / "loss.csv");
  ASSERT_EQ(a.rows().size(), b.rows().size());
  EXPECT_EQ(a.rows().back(), b.rows().back());
  EXPECT_EQ(read_file(dir / "m" / "model.pt"), read_file(dir / "once" / "model.pt"));
  // Resuming another run's options would silently train a different model.
  expect_error(scoreflow(common + " --steps 60 --lr 0.5 --resume"), "/train/lr");
  expect_error(scoreflow(common + " --steps 60 --data-seed 5 --resume"), "/data_seed");
  // An existing run is not overwritten by accident.
  expect_error(scoreflow(common + " --steps 10"), "--force");

  r = scoreflow("generate --model " + model +
                " --sampler ode-heun --steps 20 --n 300 --likelihood "
                "--likelihood-n 50 --likelihood-steps 10 " +
                out("g"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto s = read_npy(dir / "g" / "samples.npy");
  EXPECT_EQ(s.shape, (std::vector<std::size_t>{300, 2}));
  const auto summary = read_json(dir / "g" / "summary.json");
  EXPECT_GT(summary["energy_distance"].get<double>(), 0);
  EXPECT_TRUE(std::isfinite(summary["nll_nats"].get<double>()));
  EXPECT_TRUE(fs::exists(dir / "g" / "samples.png"));

  r = scoreflow("export --model " + model + " --out " + (dir / "m.pt").string());
  ASSERT_EQ(r.code, 0) << r.output;
  r = scoreflow("generate --torchscript " + (dir / "m.pt").string() +
                " --sde vp --dim 2 --sampler ode-heun --steps 20 --n 300 " + out("g2"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto s2 = read_npy(dir / "g2" / "samples.npy");
  ASSERT_EQ(s2.values.size(), s.values.size());
  for (std::size_t i = 0; i < s.values.size(); ++i) EXPECT_NEAR(s.values[i], s2.values[i], 1e-3);
}

// The default image model (a U-Net) with a Gaussian base, saved, loaded back and sampled.
TEST_F(Cli, ImageModelsWriteAnImageGrid) {
  const std::string model = (dir / "img").string();
  auto r = scoreflow(
      "train --data mnist256 --loss nc-dsm --hidden 8 --base gaussian --steps 5 --batch 16 "
      "--eval-every 5 --out " +
      model);
  ASSERT_EQ(r.code, 0) << r.output;
  r = scoreflow("generate --model " + model +
                " --sampler euler --steps 5 --n 16 --likelihood --likelihood-n 4 "
                "--likelihood-steps 2 " +
                out("g"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "g" / "samples.png"));
  EXPECT_TRUE(read_json(dir / "g" / "summary.json").contains("bits_per_dim"));
  const auto config = read_json(dir / "img" / "model.json");
  EXPECT_EQ(config["net"]["arch"], "unet");
  EXPECT_EQ(config["net"]["base"], "gaussian");
  EXPECT_EQ(read_json(dir / "img" / "summary.json")["train"]["dequantise"], true);
}

TEST_F(Cli, SbtmFromTheCommandLine) {
  auto r = scoreflow(
      "sample --target mix1d-near --sampler sbtm --n 200 --steps 30 --step-size 0.01 "
      "--hidden 32,32 --trajectory-every 5 -q " +
      out("s"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"samples.npy", "trace.csv", "trajectory.npy", "paths.png", "metrics.png",
                        "checkpoint.json"})
    EXPECT_TRUE(fs::exists(dir / "s" / f)) << f;
  const auto traj = read_npy(dir / "s" / "trajectory.npy");
  EXPECT_EQ(traj.shape, (std::vector<std::size_t>{7, 200, 1}));
  const auto trace = CsvTable::read(dir / "s" / "trace.csv");
  EXPECT_FALSE(std::isnan(trace.rows().back()[trace.column("fisher")]));
  expect_error(scoreflow("sample --sampler sbtm --integrator rk9 " + out("b")),
               "unknown integrator 'rk9'; valid: euler, heun (given as --integrator rk9)");
  expect_error(scoreflow("sample --sampler sbmt " + out("c")), "valid samplers: ula, mala");
}

// The pre-fit and the training run LibTorch, whose threaded OpenBLAS rounds differently
// from one thread: SBTM keeps BLAS on one thread, so the thread count does not matter.
TEST_F(Cli, SbtmThreadCountDoesNotChangeResults) {
  const std::string common =
      "sample --target gmm4 --sampler sbtm --n 200 --steps 3 -q --no-plot --seed 4 ";
  // OpenBLAS takes its thread count from the environment when it loads, not from --threads.
  ASSERT_EQ(scoreflow(common + out("t1"), "OMP_NUM_THREADS=1").code, 0);
  ASSERT_EQ(scoreflow(common + out("t2"), "OMP_NUM_THREADS=2").code, 0);
  EXPECT_EQ(read_file(dir / "t1" / "samples.npy"), read_file(dir / "t2" / "samples.npy"));
}

TEST_F(Cli, MalliavinDiffusionFromTheCommandLine) {
  auto r = scoreflow(
      "malliavin-diffusion --data moons --sde nonlinear --n-train 500 --n-generate 300 "
      "--steps 50 --snapshots 10 --train-steps 30 --hidden 16,16 " +
      out("m"));
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* f : {"samples.npy", "heldout.npy", "summary.json", "samples.png"})
    EXPECT_TRUE(fs::exists(dir / "m" / f)) << f;
  const auto s = read_json(dir / "m" / "summary.json");
  EXPECT_GT(s["energy_distance"].get<double>(), 0);
  EXPECT_EQ(read_npy(dir / "m" / "samples.npy").shape, (std::vector<std::size_t>{300, 2}));
  expect_error(scoreflow("malliavin-diffusion --snapshots 7 --steps 50 " + out("a")),
               "must divide steps");
  expect_error(scoreflow("malliavin-diffusion --sde nonlin " + out("b")),
               "unknown forward SDE 'nonlin'");
}
