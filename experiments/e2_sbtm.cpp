// E2 (EXPERIMENTS.md): SBTM on mixtures. mix1d-near and mix1d-far from N(0, 1), h = 0.01,
// 1000 steps, without annealing and along the geometric and dilation paths, against ULA
// (annealed ULA on the same path); final KL of the particles' Gaussian KDE by quadrature. Then
// gmm-grid16 near and far, n = 20,000, h = 0.01, 10⁴ steps: particle snapshots over the density.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/diagnostics/kl.hpp>
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

constexpr double kSbtmStep = 0.01;

std::unique_ptr<Sampler> make(const std::string& kind, const std::string& path, const Target& t,
                              std::size_t steps, std::uint64_t seed) {
  register_torch_parts();
  const std::string name = kind == "sbtm" ? "sbtm" : path.empty() ? "ula" : "annealed-ula";
  const std::string spec =
      fmt::format("{}:step_size={:.17g}{}", name, kSbtmStep, path.empty() ? "" : ",path=" + path);
  return make_sampler(spec, t, {seed, steps, "", false});
}

// Final particles from N(0, I) after `steps`; `snap` receives (step, particles) at the
// listed steps.
Particles run_from_normal(Sampler& s, const Target& t, std::size_t n, std::size_t steps,
                          std::uint64_t seed, const std::vector<std::size_t>& snaps = {},
                          const std::function<void(std::size_t, const Particles&)>& snap = {}) {
  Particles x(n, t.dim());
  make_target(fmt::format("gauss:d={}", t.dim()))->sample(seed, x.rows());
  SamplerState st = s.init(std::move(x));
  if (snap && !snaps.empty() && snaps.front() == 0) snap(0, st.x);
  for (std::size_t k = 0; k < steps; ++k) {
    s.step(st);
    if (snap && std::find(snaps.begin(), snaps.end(), st.step) != snaps.end()) snap(st.step, st.x);
  }
  return st.x;
}

}  // namespace

void run_e2(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  const std::size_t steps = o.quick ? 200 : 1000;
  const std::vector<std::size_t> ns =
      o.quick ? std::vector<std::size_t>{100, 1000} : std::vector<std::size_t>{100, 1000, 10000};
  // Reference final KL (non-annealed) at n = 100 / 1k / 10k: {SBTM, ULA}.
  const std::map<std::pair<std::string, std::size_t>, std::pair<double, double>> ref = {
      {{"mix1d-near", 100}, {0.022, 0.029}},     {{"mix1d-near", 1000}, {0.0082, 0.014}},
      {{"mix1d-near", 10000}, {0.0036, 0.0043}}, {{"mix1d-far", 100}, {0.235, 0.238}},
      {{"mix1d-far", 1000}, {0.114, 0.139}},     {{"mix1d-far", 10000}, {0.084, 0.084}}};
  std::string md =
      "| target | annealing | n | SBTM KL | ULA KL | SBTM (reference) | ULA (reference) "
      "|\n|---|---|---|---|---|---|---|\n";
  std::string csv = "target,annealing,n,sbtm_kl,ula_kl\n";
  for (const std::string name : {"mix1d-near", "mix1d-far"}) {
    const auto t = make_target(name);
    for (const std::string path : {"", "geometric", "dilation"}) {
      for (std::size_t n : ns) {
        double kl[2];
        for (int k = 0; k < 2; ++k) {
          const auto s = make(k == 0 ? "sbtm" : "ula", path, *t, steps, o.seed + n);
          const Particles x = run_from_normal(*s, *t, n, steps, o.seed + n);
          kl[k] = kl_kde_quadrature_1d(x.rows(), *t);
          if (n == ns.back())
            write_npy(o.out / fmt::format("{}_{}_{}.npy", name, path.empty() ? "none" : path,
                                          k == 0 ? "sbtm" : "ula"),
                      {x.n(), x.d()}, x.data());
        }
        const auto r =
            !o.quick && path.empty() ? ref.at({name, n}) : std::pair<double, double>{NAN, NAN};
        const auto f = [](double v) {
          return std::isnan(v) ? std::string() : fmt::format("{:.3g}", v);
        };
        md += fmt::format("| {} | {} | {} | {:.3g} | {:.3g} | {} | {} |\n", name,
                          path.empty() ? "none" : path, n, kl[0], kl[1], f(r.first), f(r.second));
        csv += fmt::format("{},{},{},{},{}\n", name, path.empty() ? "none" : path, n, kl[0], kl[1]);
        std::printf("%s %s n = %zu: SBTM KL %.3g, ULA KL %.3g\n", name.c_str(),
                    path.empty() ? "none" : path.c_str(), n, kl[0], kl[1]);
        std::fflush(stdout);
      }
    }
  }
  write_file_atomic(o.out / "table.md", md);
  write_file_atomic(o.out / "table.csv", csv);

  // gmm-grid16 near and far: particle snapshots over time.
  const std::size_t gn = o.quick ? 2000 : 20000, gsteps = o.quick ? 300 : 10000;
  for (const std::string name : {"gmm-grid16", "gmm-grid16-far"}) {
    const auto t = make_target(name);
    const auto s = make("sbtm", "", *t, gsteps, o.seed);
    std::vector<std::size_t> at{0, gsteps / 100, gsteps / 10, gsteps / 3, gsteps};
    std::vector<ParticlePanel> panels;
    run_from_normal(*s, *t, gn, gsteps, o.seed, at, [&](std::size_t step, const Particles& x) {
      const fs::path f = o.out / "plots" / fmt::format("{}_step{}.npy", name, step);
      write_npy(f, {x.n(), x.d()}, x.data());
      panels.push_back(
          {fmt::format("SBTM t = {:g}", static_cast<double>(step) * kSbtmStep), f, {}});
    });
    plot_particle_panels(*t, panels, o.out / fmt::format("{}_sbtm.png", name));
    std::printf("%s: snapshots written\n", name.c_str());
    std::fflush(stdout);
  }
  std::printf("%s\nwrote %s/{table.md, table.csv, gmm-grid16_sbtm.png, gmm-grid16-far_sbtm.png}\n",
              md.c_str(), o.out.c_str());
}

}  // namespace sf
