// E5 (third part, EXPERIMENTS.md): score training with Fokker–Planck residual penalties.
// The same network, initialisation and minibatches are trained by noise-conditional DSM alone,
// DSM + λ·(pointwise FP residual)² and DSM + λ·(heat-ball residual)², on three 2-D sets and
// mnist256. 2-D: score error against the exact score of the diffused training set (and of the
// diffused population for 8gaussians) at fixed times, also where the density is low (the
// lowest decile of p_t, points between 8gaussians' modes), and the energy distance of generated
// points to held-out data. mnist256: held-out DSM loss, bits/dim and an image grid per method.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/neural/fp_residual.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/targets/datasets.hpp>
#include <scoreflow/targets/images.hpp>
#include "experiments/experiment.hpp"
#include "experiments/score_training.hpp"

namespace sf {
namespace fs = std::filesystem;
namespace {

struct Budget {
  std::size_t n_train, n_eval, n_score, n_residual, steps, image_steps, image_eval;
};

struct Method {
  std::string kind = "none";  // none | fp | heatball
  double weight = 0;
  std::string label() const {
    return kind == "none" ? "dsm" : fmt::format("dsm + {} λ={}", kind, weight);
  }
};

// Times at which the score error is measured (VP; std(0.05) ≈ 0.17, std(1) ≈ 1).
const std::vector<double> kTimes = {0.05, 0.1, 0.2, 0.4, 0.7, 1.0};

struct Error {
  double mean, se;
};

// Probe points pushed to time kTimes[k]: m(t)x₀ + std(t)ξ, in x₀'s dtype; the same ξ for every
// method, so differences between methods are paired.
torch::Tensor diffused(const torch::Tensor& x0, const LinearSde& sde, std::size_t k,
                       std::uint64_t seed) {
  const double t = kTimes[k];
  const auto xi = philox_normals(seed, Stream::reference, k, x0.size(0), x0.size(1));
  return sde.mean_coef(t) * x0 + sde.std(t) * xi.to(x0.scalar_type());
}

// The exact score of the empirical measure of `points` pushed through the SDE: the Gaussian
// KDE of m(t)·points with bandwidth std(t) (what DSM on these points estimates).
TimeScoreFn diffused_points_score(const Particles& points, const LinearSde& sde) {
  return [points, sde](const torch::Tensor& x, double t) {
    Particles centres = points;
    for (double& v : centres.values()) v *= sde.mean_coef(t);
    const KernelDensity kde(centres.rows(), sde.std(t));
    const Particles q = to_particles(x);
    Particles out(q.n(), q.d());
    kde.score(q.rows(), out.rows());
    return as_tensor(out).clone();
  };
}

// std(t)²·|s_model − s_exact|² (dimensionless: |s|² ~ d/std²) at each point of `at[k]`, the
// points at time kTimes[k].
std::vector<torch::Tensor> pointwise_errors(const TimeScoreFn& model, const TimeScoreFn& exact,
                                            const LinearSde& sde,
                                            const std::vector<torch::Tensor>& at) {
  std::vector<torch::Tensor> out;
  for (std::size_t k = 0; k < kTimes.size(); ++k) {
    const double t = kTimes[k], sd = sde.std(t);
    out.push_back((model(at[k].to(torch::kFloat32), t).to(torch::kFloat64) - exact(at[k], t))
                      .pow(2)
                      .sum(1)
                      .mul(sd * sd));
  }
  return out;
}

Error mean_of(const torch::Tensor& e) {
  return {e.mean().item<double>(),
          e.std().item<double>() / std::sqrt(static_cast<double>(e.size(0)))};
}

// The mean error at each time.
std::vector<Error> means(const std::vector<torch::Tensor>& e) {
  std::vector<Error> out;
  for (const auto& ek : e) out.push_back(mean_of(ek));
  return out;
}

// What the penalties push down: std(t)⁶·|pointwise FP residual|² (exact Laplacian for d ≤ 10,
// else one Hutchinson probe per point), averaged over the probe points at each time.
Error residual_size(const std::shared_ptr<ScoreNetImpl>& net, const LinearSde& sde,
                    const Particles& start, std::uint64_t seed) {
  Particles x0 = start;
  const auto x0t = as_tensor(x0).to(torch::kFloat32);
  const BatchScoreFn score = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return net->score(x, t);
  };
  std::vector<torch::Tensor> all;
  for (std::size_t k = 0; k < kTimes.size(); ++k) {
    const double t = kTimes[k];
    const auto xt = diffused(x0t, sde, k, seed);
    const auto r =
        pointwise_fp_residual(score, sde, xt, torch::full({xt.size(0)}, t), {"auto", seed, k});
    all.push_back(r.detach().pow(2).sum(1).mul(std::pow(sde.std(t), 6)).to(torch::kFloat64));
  }
  const auto e = torch::cat(all);
  return {e.mean().item<double>(),
          e.std().item<double>() / std::sqrt(static_cast<double>(e.size(0)))};
}

Error time_average(const std::vector<Error>& e) {
  double m = 0, v = 0;
  for (const auto& x : e) m += x.mean, v += x.se * x.se;
  const auto k = static_cast<double>(e.size());
  return {m / k, std::sqrt(v) / k};
}

struct Row {
  std::string data;
  Method method;
  std::string baseline;  // a row that is not a trained model (the Gaussian fits): its name
  std::string label() const { return baseline.empty() ? method.label() : baseline; }
  std::vector<Error> train_err, pop_err;  // pop_err empty where the population law is unknown
  // Where the density is low: the probes in the lowest decile of the diffused training set's
  // p_t (against its score), and points between 8gaussians' modes (against the population's).
  std::vector<Error> low_err, between_err;
  std::vector<torch::Tensor> low_points, between_points;  // their pointwise errors, per time
  Error residual{NAN, NAN};
  double energy = NAN, floor = NAN, heldout = NAN, bpd = NAN, seconds = NAN;
};

TrainSpec spec_of(const Method& m, std::size_t steps, std::uint64_t seed, bool images) {
  TrainSpec s;
  s.steps = steps;
  s.seed = seed;
  s.images = images;
  s.residual.kind = m.kind;
  s.residual.weight = m.weight;
  return s;
}

std::string stem_of(const std::string& data, const Method& m) {
  return m.kind == "none" ? data + "_dsm" : fmt::format("{}_{}_{}", data, m.kind, m.weight);
}

// What every method on one 2-D set is measured against, prepared once per set.
struct TwoDSet {
  std::string name;
  TrainingData data;
  Particles probe_starts;              // held-out start points of the score error
  std::vector<torch::Tensor> probes;   // the start points diffused to each time (the same noise)
  std::vector<torch::Tensor> low;      // at each time, the probes in the lowest decile of p_t
  std::vector<torch::Tensor> between;  // 8gaussians: points between modes, at each time
  double floor = NAN;                  // energy distance of fresh data to the held-out points
  TimeScoreFn train_law;               // exact score of the diffused training set
  TimeScoreFn population;              // exact score of the diffused population, where known
};

// Indices of the rows of x in the lowest decile of the diffused training set's density at t
// (the Gaussian KDE of m(t)·points with bandwidth std(t): the law DSM estimates).
torch::Tensor lowest_decile(const Particles& points, const LinearSde& sde, const torch::Tensor& x,
                            double t) {
  Particles centres = points;
  for (double& v : centres.values()) v *= sde.mean_coef(t);
  const Particles q = to_particles(x);
  std::vector<double> logp(q.n());
  KernelDensity(centres.rows(), sde.std(t)).log_density(q.rows(), logp);
  const auto order =
      torch::from_blob(logp.data(), {static_cast<std::int64_t>(logp.size())}, torch::kFloat64)
          .argsort();
  return order.slice(0, 0, std::max<std::int64_t>(1, order.size(0) / 10)).clone();
}

// Points between adjacent modes of 8gaussians (from 30 % to 70 % of the way from one mode to
// the next: 1.8–4.3 standard deviations from both), scaled by m(t) at each time.
std::vector<torch::Tensor> between_modes(const GaussianMixture& mix, const LinearSde& sde) {
  constexpr int per_pair = 25;
  const auto comps = mix.component_list();
  const std::size_t k = comps.size();
  auto y = torch::empty({static_cast<std::int64_t>(k * per_pair), 2}, torch::kFloat64);
  auto a = y.accessor<double, 2>();
  for (std::size_t c = 0; c < k; ++c) {
    const auto& m0 = comps[c].mean;
    const auto& m1 = comps[(c + 1) % k].mean;
    for (int j = 0; j < per_pair; ++j) {
      const double f = 0.3 + 0.4 * j / (per_pair - 1);
      const auto row = static_cast<std::int64_t>(c * per_pair + static_cast<std::size_t>(j));
      for (int d = 0; d < 2; ++d) a[row][d] = (1 - f) * m0(d) + f * m1(d);
    }
  }
  std::vector<torch::Tensor> out;
  for (double t : kTimes) out.push_back(sde.mean_coef(t) * y);
  return out;
}

TwoDSet prepare_set(const std::string& name, const LinearSde& sde, const Budget& b,
                    const fs::path& out, std::uint64_t seed) {
  TwoDSet s;
  s.name = name;
  s.data = load_training_data(name, b.n_train, b.n_eval, seed);
  s.probe_starts = strided_rows(s.data.heldout, b.n_score);
  const auto x0 = as_tensor(s.probe_starts);
  for (std::size_t k = 0; k < kTimes.size(); ++k) {
    s.probes.push_back(diffused(x0, sde, k, seed + 3));
    s.low.push_back(lowest_decile(s.data.train, sde, s.probes.back(), kTimes[k]));
  }
  s.floor = discrepancy(sample_dataset(name, b.n_eval, seed + 777), s.data.heldout).first;
  s.train_law = diffused_points_score(s.data.train, sde);
  if (name == "8gaussians") {
    const GaussianMixture mix = eight_gaussians_mixture();
    s.population = [pop = std::make_shared<DiffusedMixture>(mix, sde)](
                       const torch::Tensor& x, double t) { return pop->score(x, t); };
    s.between = between_modes(mix, sde);
  }
  const auto& held = s.data.heldout;
  write_npy(out / "plots" / (name + "_heldout.npy"), {held.n(), held.d()}, held.data());
  return s;
}

Row two_d(const TwoDSet& set, const Method& method, const LinearSde& sde, const Budget& b,
          const fs::path& out, std::uint64_t seed) {
  const std::string& name = set.name;
  const Trained m = train_score_net(set.data, spec_of(method, b.steps, seed + 1, false));
  const auto model = score_of(m.net);
  Row r;
  r.data = name;
  r.method = method;
  const auto train_err = pointwise_errors(model, set.train_law, sde, set.probes);
  r.train_err = means(train_err);
  for (std::size_t k = 0; k < kTimes.size(); ++k)
    r.low_points.push_back(train_err[k].index_select(0, set.low[k]));
  r.low_err = means(r.low_points);
  if (set.population) {
    r.pop_err = means(pointwise_errors(model, set.population, sde, set.probes));
    r.between_points = pointwise_errors(model, set.population, sde, set.between);
    r.between_err = means(r.between_points);
  }
  r.residual = residual_size(m.net, sde, strided_rows(set.probe_starts, b.n_residual), seed + 4);
  GenerateOptions g;
  g.sampler = "euler";
  g.steps = 500;
  g.seed = seed + 2;
  const Particles gen =
      to_particles(generate(sde, model, static_cast<std::int64_t>(b.n_eval), 2, g));
  r.energy = discrepancy(gen, set.data.heldout).first;
  r.floor = set.floor;
  r.heldout = m.heldout_loss;
  r.seconds = m.seconds;
  const std::string stem = stem_of(name, method);
  write_npy(out / (stem + ".npy"), {gen.n(), gen.d()}, gen.data());
  plot_points_over_data(out / (stem + ".npy"), out / "plots" / (name + "_heldout.npy"),
                        fmt::format("{}: {}", name, method.label()), out / (stem + ".png"));
  const Error avg = time_average(r.train_err);
  std::printf(
      "%-12s %-22s score error %.4f ± %.4f  FP residual %.3g  energy %.4g (floor %.3g)  "
      "held-out %.4f  %.0f s\n",
      name.c_str(), method.label().c_str(), avg.mean, avg.se, r.residual.mean, r.energy, r.floor,
      r.heldout, r.seconds);
  return r;
}

Row images(const TrainingData& data, const Method& method, const LinearSde& sde, const Budget& b,
           const fs::path& out, std::uint64_t seed) {
  const Trained m = train_score_net(data, spec_of(method, b.image_steps, seed + 1, true));
  const auto model = score_of(m.net);
  const std::string stem = stem_of("mnist256", method);
  write_image_samples(sde, model, seed + 2, fmt::format("mnist256: {}", method.label()),
                      out / (stem + ".npy"));
  Row r;
  r.data = "mnist256";
  r.method = method;
  r.residual = residual_size(m.net, sde, strided_rows(data.heldout, b.n_residual), seed + 4);
  r.bpd = heldout_bits_per_dim(sde, model, strided_rows(data.heldout, b.image_eval), seed + 3);
  r.heldout = m.heldout_loss;
  r.seconds = m.seconds;
  std::printf("%-12s %-22s held-out DSM %.4f  FP residual %.3g  %.3f bits/dim  %.0f s\n",
              "mnist256", method.label().c_str(), r.heldout, r.residual.mean, r.bpd, r.seconds);
  return r;
}

std::string cell(double v, const char* f = "{:.4f}") {
  return std::isnan(v) ? "" : fmt::format(fmt::runtime(f), v);
}

std::string cell(const std::vector<Error>& e) {
  if (e.empty()) return "";
  const Error a = time_average(e);
  return fmt::format("{:.4f} ± {:.4f}", a.mean, a.se);
}

std::string md_table(const std::vector<Row>& rows) {
  std::string md =
      "| data | method | score error, train-set p_t (mean over t) | at t = 0.05 | score error, "
      "population p_t | FP residual | energy distance | data-vs-data | held-out DSM | bits/dim | "
      "train s |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows)
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.data,
                      r.label(), cell(r.train_err),
                      r.train_err.empty()
                          ? ""
                          : fmt::format("{:.4f} ± {:.4f}", r.train_err[0].mean, r.train_err[0].se),
                      cell(r.pop_err),
                      std::isnan(r.residual.mean)
                          ? ""
                          : fmt::format("{:.3g} ± {:.2g}", r.residual.mean, r.residual.se),
                      cell(r.energy, "{:.4g}"), cell(r.floor, "{:.3g}"), cell(r.heldout),
                      cell(r.bpd, "{:.3f}"), cell(r.seconds, "{:.0f}"));
  md +=
      "\nBlank cells do not apply: the score errors need the exact diffused law (2-D sets only), "
      "the energy distance is not computed for digits here (E6 has it), bits/dim is for digits "
      "only, and the Gaussian baselines are fitted, not trained by score matching. The digit "
      "models are 3×512 MLPs with a Gaussian base (the network learns only the correction to "
      "the exact diffused score of the full-covariance Gaussian) on batches dequantised afresh "
      "each step; E6 has the U-Net.\n";
  md +=
      "\n**Where the density is low.** Score error (mean over t, ± 1 SE) over all probes, over "
      "the probes in the lowest decile of the diffused training set's p_t at each t, and at "
      "points between 8gaussians' modes (against the population's score). \"vs dsm\": the "
      "change from DSM alone on the same points and noise (paired, ± 1 SE).\n\n"
      "| data | method | all probes | lowest decile of p_t | vs dsm | at t = 0.05 | "
      "between the modes | vs dsm | at t = 0.05 |\n|---|---|---|---|---|---|---|---|---|\n";
  const Row* dsm = nullptr;
  for (const auto& r : rows) {
    if (r.low_err.empty()) continue;
    if (r.method.kind == "none") dsm = &r;
    const auto change = [&](const std::vector<torch::Tensor>& mine,
                            const std::vector<torch::Tensor>& base) {
      if (mine.empty() || base.empty() || &mine == &base) return std::string();
      std::vector<torch::Tensor> diff;
      for (std::size_t k = 0; k < mine.size(); ++k) diff.push_back(mine[k] - base[k]);
      const Error d = time_average(means(diff));
      return fmt::format("{:+.4f} ± {:.4f}", d.mean, d.se);
    };
    const auto first = [](const std::vector<Error>& e) {
      return e.empty() ? std::string() : fmt::format("{:.4f} ± {:.4f}", e[0].mean, e[0].se);
    };
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", r.data, r.method.label(),
                      cell(r.train_err), cell(r.low_err),
                      change(r.low_points, dsm ? dsm->low_points : r.low_points), first(r.low_err),
                      cell(r.between_err),
                      change(r.between_points, dsm ? dsm->between_points : r.between_points),
                      first(r.between_err));
  }
  return md;
}

void write_csv(const std::vector<Row>& rows, const fs::path& path) {
  std::string csv =
      "data,method,kind,weight,time,score_error,score_error_se,population_error,"
      "population_error_se,low_density_error,low_density_error_se,between_modes_error,"
      "between_modes_error_se,fp_residual,fp_residual_se,energy,floor_energy,heldout_dsm,"
      "bits_per_dim,train_seconds\n";
  for (const auto& r : rows)
    for (std::size_t k = 0; k < std::max<std::size_t>(1, r.train_err.size()); ++k) {
      const auto at = [&](const std::vector<Error>& e, bool se) {
        return k < e.size() ? fmt::format("{}", se ? e[k].se : e[k].mean) : std::string();
      };
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.data,
                         r.label(), r.baseline.empty() ? r.method.kind : "baseline",
                         r.method.weight, r.train_err.empty() ? "" : fmt::format("{}", kTimes[k]),
                         at(r.train_err, false), at(r.train_err, true), at(r.pop_err, false),
                         at(r.pop_err, true), at(r.low_err, false), at(r.low_err, true),
                         at(r.between_err, false), at(r.between_err, true), r.residual.mean,
                         r.residual.se, r.energy, r.floor, r.heldout, r.bpd, r.seconds);
    }
  write_file_atomic(path, csv);
}

// Score error against time, one panel per 2-D set, one line per method.
void plot(const std::vector<Row>& rows, const std::vector<std::string>& sets,
          const std::vector<Method>& methods, const fs::path& out) {
  std::string dat;
  for (const auto& name : sets)
    for (const auto& m : methods) {
      for (const auto& r : rows)
        if (r.data == name && r.method.label() == m.label())
          for (std::size_t k = 0; k < kTimes.size(); ++k)
            dat += fmt::format("{} {} {}\n", kTimes[k], r.train_err[k].mean, r.train_err[k].se);
      dat += "\n\n";
    }
  write_file_atomic(out / "plots" / "score_error.dat", dat);
  std::string gp = fmt::format(
      "set terminal pngcairo size {},460 font ',10' enhanced\nset output '{}'\n"
      "set multiplot layout 1,{} title 'score error std(t)^2 |s_θ − s_*|^2 against the "
      "diffused training set (± 1 SE)'\nset logscale xy\nset grid\nset key bottom left\n"
      "set xlabel 'diffusion time t'\nset ylabel 'score error'\n",
      std::max<std::size_t>(640, 460 * sets.size()), (out / "score_error.png").string(),
      sets.size());
  const std::string data = (out / "plots" / "score_error.dat").string();
  for (std::size_t s = 0; s < sets.size(); ++s) {
    gp += fmt::format("set title '{}'\nplot ", sets[s]);
    for (std::size_t k = 0; k < methods.size(); ++k)
      gp += fmt::format("'{}' index {} using 1:2:3 with yerrorlines lw 2 title '{}'{}", data,
                        s * methods.size() + k, methods[k].label(),
                        k + 1 < methods.size() ? ", " : "\n");
  }
  gp += "unset multiplot\n";
  run_gnuplot(out / "plots" / "score_error.gp", gp);
}

}  // namespace

void run_e5_train(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  torch::set_num_threads(1);
  const Budget b = o.quick ? Budget{4000, 500, 300, 50, 200, 20, 10}
                           : Budget{20000, 10000, 2000, 250, 4000, 4000, 500};
  const std::vector<std::string> sets =
      o.quick ? std::vector<std::string>{"8gaussians"}
              : std::vector<std::string>{"checkerboard", "swissroll", "8gaussians"};
  const std::vector<Method> methods =
      o.quick ? std::vector<Method>{{"none", 0}, {"fp", 0.1}, {"heatball", 0.1}}
              : std::vector<Method>{
                    {"none", 0}, {"fp", 0.01}, {"fp", 0.1}, {"heatball", 0.01}, {"heatball", 0.1}};
  const std::vector<Method> image_methods = {{"none", 0}, {"fp", 0.01}, {"heatball", 0.01}};
  const auto sde = LinearSde::by_name("vp");
  std::vector<Row> rows;
  for (const auto& name : sets) {
    const TwoDSet set = prepare_set(name, sde, b, o.out, o.seed);
    for (const auto& m : methods) rows.push_back(two_d(set, m, sde, b, o.out, o.seed));
  }
  const auto digits = load_training_data("mnist256", 10, 10, 0);
  for (const auto& m : image_methods) rows.push_back(images(digits, m, sde, b, o.out, o.seed));
  for (const bool full : {true, false}) {
    Row r;
    r.data = "mnist256";
    r.baseline = full ? "Gaussian, full covariance" : "Gaussian, diagonal";
    // The same held-out digits and dequantisation as images(): heldout_bits_per_dim's seed.
    r.bpd = gaussian_baseline(digits.train, full, strided_rows(digits.heldout, b.image_eval), 0,
                              o.seed + 3)
                .bits_per_dim;
    std::printf("%-12s %-22s %.3f bits/dim\n", "mnist256", r.baseline.c_str(), r.bpd);
    rows.push_back(std::move(r));
  }
  write_csv(rows, o.out / "table.csv");
  const std::string md = md_table(rows);
  write_file_atomic(o.out / "table.md", md);
  plot(rows, sets, methods, o.out);
  std::printf("%s\nwrote %s/{table.md, table.csv, score_error.png, *.png}\n", md.c_str(),
              o.out.c_str());
}

}  // namespace sf
