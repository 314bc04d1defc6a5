// E1 (EXPERIMENTS.md): SBTM against ULA on the analytic Gaussian case of MATH.md §3:
// f_0 = N(0, K(t_0) I), K(t) = 1 − e^{−2t}, t_0 = 0.1, π = N(0, I), h = 0.002, 1250 steps.
// The exact flow keeps f_t = N(0, K(t + t_0) I), so its KL is known at every time.
// Particle KL is measured by the Gaussian fit, KL(N(m̂, Σ̂) ‖ π) — exact for this Gaussian
// family, so its error is the finite-n error of the fitted moments — and, in 1-D, also by
// the quadrature KL of the particles' Gaussian KDE (smoothing bias included).
#include <cmath>
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/torch_parts.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/targets/registry.hpp>
#include "experiments/experiment.hpp"

namespace sf {
namespace fs = std::filesystem;
namespace {

constexpr double kT0 = 0.1, kStep = 0.002;

double big_k(double t) {
  return -std::expm1(-2 * t);
}

double gaussian_fit_kl(const Particles& x) {
  const auto d = static_cast<Eigen::Index>(x.d());
  return kl_gaussian(weighted_mean(x.rows()), weighted_cov(x.rows()), Eigen::VectorXd::Zero(d),
                     Eigen::MatrixXd::Identity(d, d));
}

// KL of the particles (Gaussian fit), and SBTM's Fisher information, every `every` steps.
class KlCurve : public Observer {
 public:
  explicit KlCurve(std::size_t every) : every_(every) {}
  void on_start(const SamplerState& s) override { add(s, NAN); }
  bool on_step(const SamplerState& s, const StepInfo& info) override {
    if (s.step % every_ == 0) add(s, info.fisher);
    return true;
  }
  std::vector<std::array<double, 3>> rows;  // time, KL, Fisher

 private:
  void add(const SamplerState& s, double fisher) {
    rows.push_back({static_cast<double>(s.step) * kStep, gaussian_fit_kl(s.x), fisher});
  }
  std::size_t every_;
};

struct RunOut {
  double final_kl, final_kl_kde;
  std::vector<std::array<double, 3>> curve;
};

RunOut run_one(const std::string& sampler, std::size_t d, std::size_t n, std::size_t steps,
               std::uint64_t seed) {
  const auto target = make_target(fmt::format("gauss:d={}", d));
  const std::string init_spec = fmt::format("gauss:d={},var={:.17g}", d, big_k(kT0));
  Particles x(n, d);
  make_target(init_spec)->sample(seed, x.rows());
  register_torch_parts();
  const auto s = make_sampler(fmt::format("{}:step_size={:.17g}", sampler, kStep), *target,
                              {seed, steps, init_spec, false});
  SamplerState state = s->init(std::move(x));
  KlCurve curve(std::max<std::size_t>(1, steps / 50));
  std::vector<Observer*> obs{&curve};
  run(*s, state, steps, obs);
  const double kde = d == 1 ? kl_kde_quadrature_1d(state.x.rows(), *target) : NAN;
  return {gaussian_fit_kl(state.x), kde, curve.rows};
}

void plot_curves(const fs::path& out, const std::vector<std::string>& files,
                 const std::vector<std::string>& titles, std::size_t steps) {
  std::string gp = fmt::format(
      "set terminal pngcairo size 720,460 font ',10' noenhanced\nset output '{}'\nset datafile "
      "separator ','\n"
      "set logscale y\nset xlabel 't'\nset ylabel 'KL(f_t || pi)'\nset grid\nset key top right\n"
      "set title 'E1: SBTM vs ULA, analytic Gaussian (d = 1)'\nplot [0:{}] ",
      (out / "kl_vs_time.png").string(), static_cast<double>(steps) * kStep);
  gp += fmt::format(
      "0.5*((1-exp(-2*(x+{0})))-1-log(1-exp(-2*(x+{0})))) lw 2 lc rgb 'black' title 'exact flow'",
      kT0);
  for (std::size_t k = 0; k < files.size(); ++k)
    gp += fmt::format(", '{}' using 1:2 with lines lw 1.5 title '{}'", files[k], titles[k]);
  run_gnuplot(out / "plots" / "kl.gp", gp + "\n");
}

void plot_fisher(const fs::path& out, const fs::path& csv) {
  const std::string gp = fmt::format(
      "set terminal pngcairo size 720,460 font ',10' noenhanced\nset output '{}'\nset datafile "
      "separator ','\n"
      "set logscale y\nset xlabel 't'\nset grid\nset title 'SBTM, d = 1, n = 1000: Fisher "
      "information vs -dKL/dt'\n"
      "plot '{}' using 1:3 with lines lw 2 title 'relative Fisher information (1/N) sum |s - grad "
      "log pi|^2', "
      "'' using 1:4 with lines lw 2 title '-dKL/dt (finite differences of the Gaussian-fit KL)'\n",
      (out / "fisher.png").string(), csv.string());
  run_gnuplot(out / "plots" / "fisher.gp", gp);
}

}  // namespace

void run_e1(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  const std::size_t steps = o.quick ? 250 : 1250;
  const std::vector<std::size_t> ns =
      o.quick ? std::vector<std::size_t>{100, 1000} : std::vector<std::size_t>{100, 1000, 10000};
  const std::vector<std::size_t> dims =
      o.quick ? std::vector<std::size_t>{3} : std::vector<std::size_t>{3, 5, 10, 20};
  const std::map<std::size_t, std::pair<double, double>> reference = {
      {100, {0.0126, 0.0197}}, {1000, {0.00186, 0.00936}}, {10000, {0.00099, 0.00117}}};
  std::string md =
      "| d | n | SBTM KL (Gaussian fit) | ULA KL (Gaussian fit) | SBTM KL (KDE) | ULA KL (KDE) | "
      "exact flow KL | "
      "SBTM (reference) | ULA (reference) |\n|---|---|---|---|---|---|---|---|---|\n";
  std::string csv = "d,n,sbtm_kl,ula_kl,sbtm_kl_kde,ula_kl_kde,exact_kl\n";
  std::vector<std::string> files, titles;
  const auto row = [&](std::size_t d, std::size_t n) {
    const auto sb = run_one("sbtm", d, n, steps, o.seed + n);
    const auto ul = run_one("ula", d, n, steps, o.seed + n);
    const double t_end = static_cast<double>(steps) * kStep + kT0, kk = big_k(t_end);
    const double exact = 0.5 * static_cast<double>(d) * (kk - 1 - std::log(kk));
    const auto ref = !o.quick && d == 1 && reference.count(n) ? reference.at(n)
                                                              : std::pair<double, double>{NAN, NAN};
    const auto fmt_ref = [](double v) {
      return std::isnan(v) ? std::string("") : fmt::format("{:.3g}", v);
    };
    md += fmt::format("| {} | {} | {:.3g} | {:.3g} | {} | {} | {:.2g} | {} | {} |\n", d, n,
                      sb.final_kl, ul.final_kl, fmt_ref(sb.final_kl_kde), fmt_ref(ul.final_kl_kde),
                      exact, fmt_ref(ref.first), fmt_ref(ref.second));
    csv += fmt::format("{},{},{},{},{},{},{}\n", d, n, sb.final_kl, ul.final_kl, sb.final_kl_kde,
                       ul.final_kl_kde, exact);
    std::printf("d = %zu, n = %zu: SBTM KL %.3g, ULA KL %.3g (exact flow %.2g)\n", d, n,
                sb.final_kl, ul.final_kl, exact);
    if (d != 1) return;
    for (const auto* r : {&sb, &ul}) {
      const bool is_sbtm = r == &sb;
      const fs::path f = o.out / "plots" / fmt::format("{}_n{}.csv", is_sbtm ? "sbtm" : "ula", n);
      std::string c = "t,kl,fisher,minus_dkl_dt\n";
      for (std::size_t k = 0; k < r->curve.size(); ++k) {
        const auto& [t, kl, fi] = r->curve[k];
        const double dk = k ? -(kl - r->curve[k - 1][1]) / (t - r->curve[k - 1][0]) : NAN;
        c += fmt::format("{},{},{},{}\n", t, kl, fi, dk);
      }
      write_file_atomic(f, c);
      files.push_back(f.string());
      titles.push_back(fmt::format("{} n = {}", is_sbtm ? "SBTM" : "ULA", n));
      if (is_sbtm && n == 1000) plot_fisher(o.out, f);
    }
  };
  for (std::size_t n : ns) row(1, n);
  for (std::size_t d : dims) row(d, 1000);
  write_file_atomic(o.out / "table.md", md);
  write_file_atomic(o.out / "table.csv", csv);
  plot_curves(o.out, files, titles, steps);
  std::printf("%s\nwrote %s/{table.md, table.csv, kl_vs_time.png, fisher.png}\n", md.c_str(),
              o.out.c_str());
}

}  // namespace sf
