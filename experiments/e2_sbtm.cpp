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

std::unique_ptr<Sampler> make(const std::string& kind, const std::string& path,
                              const std::string& options, const Target& t, std::size_t steps,
                              std::uint64_t seed) {
  register_torch_parts();
  const std::string name = kind == "sbtm" ? "sbtm" : path.empty() ? "ula" : "annealed-ula";
  const std::string spec =
      fmt::format("{}:step_size={:.17g}{}{}", name, kSbtmStep, path.empty() ? "" : ",path=" + path,
                  options.empty() ? "" : "," + options);
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

// The final particles' KL against π by both estimators, mean ± SE over `reps` seeds.
std::string pm(const MeanSe& m) {
  return m.n > 1 ? fmt::format("{:.3g} ± {:.2g}", m.mean, m.se) : fmt::format("{:.3g}", m.mean);
}

struct KlPair {
  MeanSe quadrature, reference, unclipped;
};

KlPair both_kl(const std::vector<Particles>& xs, const Target& t) {
  std::vector<double> quad, refkl, raw;
  for (const auto& x : xs) {
    quad.push_back(kl_kde_quadrature_1d(x.rows(), t));
    raw.push_back(kl_kde_resubstitution(x.rows(), t, false));
    refkl.push_back(std::max(0.0, raw.back()));
  }
  return {mean_se(quad), mean_se(refkl), mean_se(raw)};
}

struct Mix1dRun {
  std::string target, path, options;  // options: extra SBTM spec options ("" for ULA)
  bool sbtm;
  std::size_t n;
};

KlPair final_kl(const Mix1dRun& r, const ExperimentOptions& o, std::size_t steps, int reps,
                const fs::path& keep = {}) {
  const auto t = make_target(r.target);
  std::vector<Particles> xs;
  for (int k = 0; k < reps; ++k) {
    const std::uint64_t seed = o.seed + r.n + 1000 * static_cast<std::uint64_t>(k);
    const auto s = make(r.sbtm ? "sbtm" : "ula", r.path, r.options, *t, steps, seed);
    xs.push_back(run_from_normal(*s, *t, r.n, steps, seed));
    if (k == 0 && !keep.empty()) write_npy(keep, {xs[0].n(), xs[0].d()}, xs[0].data());
  }
  return both_kl(xs, *t);
}

// What each estimator gives for π's own draws: the floor a sampler cannot beat.
void estimator_floors(const ExperimentOptions& o, const std::vector<std::size_t>& ns, int reps,
                      std::string& md, std::string& csv) {
  md +=
      "\n| target | n | π's draws: quadrature | reference estimator | reference, unclipped "
      "|\n|---|---|---|---|---|\n";
  for (const std::string name : {"mix1d-near", "mix1d-far"}) {
    const auto t = make_target(name);
    for (std::size_t n : ns) {
      std::vector<Particles> xs;
      for (int k = 0; k < reps; ++k) {
        xs.emplace_back(n, 1);
        t->sample(o.seed + 7 + 1000 * static_cast<std::uint64_t>(k), xs.back().rows());
      }
      const KlPair k = both_kl(xs, *t);
      md += fmt::format("| {} | {} | {} | {} | {} |\n", name, n, pm(k.quadrature), pm(k.reference),
                        pm(k.unclipped));
      csv += fmt::format("{},none,{},exact-draws,{},{},{},{},{},{}\n", name, n, k.quadrature.mean,
                         k.quadrature.se, k.reference.mean, k.reference.se, k.unclipped.mean,
                         k.unclipped.se);
    }
  }
}

// What differs from the reference's runs, one change at a time (n = 1000, no annealing).
void sbtm_variants(const ExperimentOptions& o, std::size_t steps, int reps, std::string& md,
                   std::string& csv) {
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"ours (ESM pre-fit to 1e-4)", ""},
      {"pre-fit 101 steps (the reference's budget)", "init_steps=101,init_tol=0"},
      {"50 training batches per step", "train_steps=50"},
      {"full-batch training (batch = n)", "batch=1000"},
      {"heun integrator", "integrator=heun"}};
  md +=
      "\n| target | SBTM variant | SBTM KL (quadrature) | SBTM KL (reference estimator) | "
      "unclipped |\n|---|---|---|---|---|\n";
  for (const std::string name : {"mix1d-near", "mix1d-far"}) {
    for (const auto& [label, opts] : variants) {
      const KlPair k = final_kl({name, "", opts, true, 1000}, o, steps, reps);
      md += fmt::format("| {} | {} | {} | {} | {} |\n", name, label, pm(k.quadrature),
                        pm(k.reference), pm(k.unclipped));
      csv += fmt::format("{},none,1000,sbtm[{}],{},{},{},{},{},{}\n", name, opts, k.quadrature.mean,
                         k.quadrature.se, k.reference.mean, k.reference.se, k.unclipped.mean,
                         k.unclipped.se);
      std::printf("%s variant '%s': KL %s (quadrature), %s (reference, unclipped)\n", name.c_str(),
                  label.c_str(), pm(k.quadrature).c_str(), pm(k.unclipped).c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

void run_e2(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  const std::size_t steps = o.quick ? 200 : 1000;
  const int reps = o.quick ? 1 : 5;
  const std::vector<std::size_t> ns =
      o.quick ? std::vector<std::size_t>{100, 1000} : std::vector<std::size_t>{100, 1000, 10000};
  // Reference final KL (non-annealed) at n = 100 / 1k / 10k: {SBTM, ULA}.
  const std::map<std::pair<std::string, std::size_t>, std::pair<double, double>> ref = {
      {{"mix1d-near", 100}, {0.022, 0.029}},     {{"mix1d-near", 1000}, {0.0082, 0.014}},
      {{"mix1d-near", 10000}, {0.0036, 0.0043}}, {{"mix1d-far", 100}, {0.235, 0.238}},
      {{"mix1d-far", 1000}, {0.114, 0.139}},     {{"mix1d-far", 10000}, {0.084, 0.084}}};
  std::string md =
      "| target | annealing | n | SBTM KL (quadrature) | ULA KL (quadrature) | SBTM KL "
      "(reference estimator) | ULA KL (reference estimator) | SBTM, unclipped | ULA, unclipped | "
      "SBTM (reference) | ULA (reference) |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  std::string csv =
      "target,annealing,n,sampler,kl_quadrature,kl_quadrature_se,kl_reference,kl_reference_se,"
      "kl_reference_unclipped,kl_reference_unclipped_se\n";
  for (const std::string name : {"mix1d-near", "mix1d-far"}) {
    for (const std::string path : {"", "geometric", "dilation"}) {
      const std::string path_name = path.empty() ? "none" : path;
      for (std::size_t n : ns) {
        KlPair kl[2];
        for (int k = 0; k < 2; ++k) {
          const std::string sampler = k == 0 ? "sbtm" : "ula";
          const fs::path keep = n == ns.back()
                                    ? o.out / fmt::format("{}_{}_{}.npy", name, path_name, sampler)
                                    : fs::path();
          kl[k] = final_kl({name, path, "", k == 0, n}, o, steps, reps, keep);
          csv += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", name, path_name, n, sampler,
                             kl[k].quadrature.mean, kl[k].quadrature.se, kl[k].reference.mean,
                             kl[k].reference.se, kl[k].unclipped.mean, kl[k].unclipped.se);
        }
        const auto r =
            !o.quick && path.empty() ? ref.at({name, n}) : std::pair<double, double>{NAN, NAN};
        const auto f = [](double v) {
          return std::isnan(v) ? std::string() : fmt::format("{:.3g}", v);
        };
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", name,
                          path_name, n, pm(kl[0].quadrature), pm(kl[1].quadrature),
                          pm(kl[0].reference), pm(kl[1].reference), pm(kl[0].unclipped),
                          pm(kl[1].unclipped), f(r.first), f(r.second));
        std::printf(
            "%s %s n = %zu: SBTM KL %s / %s, ULA KL %s / %s (quadrature / reference, unclipped)\n",
            name.c_str(), path_name.c_str(), n, pm(kl[0].quadrature).c_str(),
            pm(kl[0].unclipped).c_str(), pm(kl[1].quadrature).c_str(), pm(kl[1].unclipped).c_str());
        std::fflush(stdout);
      }
    }
  }
  estimator_floors(o, ns, reps, md, csv);
  sbtm_variants(o, steps, reps, md, csv);
  write_file_atomic(o.out / "table.md", md);
  write_file_atomic(o.out / "table.csv", csv);

  // gmm-grid16 near and far: particle snapshots over time.
  const std::size_t gn = o.quick ? 2000 : 20000, gsteps = o.quick ? 300 : 10000;
  for (const std::string name : {"gmm-grid16", "gmm-grid16-far"}) {
    const auto t = make_target(name);
    const auto s = make("sbtm", "", "", *t, gsteps, o.seed);
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
