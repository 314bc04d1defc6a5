#include <scoreflow/samplers/registry.hpp>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/samplers/birth_death.hpp>
#include <scoreflow/samplers/fk_corrector.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/wfr.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>

namespace sf {

double step_size_option(const Spec& s, double fallback) {
  const double h = s.number("step_size", fallback);
  check_positive_finite(s.name(), "step_size", h);
  return h;
}

double bandwidth_option(const Spec& s, double fallback) {
  const double b = s.number("bandwidth", fallback);
  if (!(b >= 0))
    throw InvalidArgument(
        fmt::format("{}: bandwidth is {}, but must be positive (or 0 for automatic)", s.name(), b));
  return b;
}

LinearSchedule schedule_option(const Spec& s) {
  if (s.has("anneal_schedule") && s.has("anneal_fraction"))
    throw InvalidArgument(
        fmt::format("{}: give anneal_fraction or anneal_schedule, not both", s.text()));
  if (s.has("anneal_schedule"))
    return LinearSchedule::from_knots(s.unbracketed("anneal_schedule", ""));
  const double fraction = s.number("anneal_fraction", 1.0);
  check_in_range(s.name(), "anneal_fraction", fraction, 1e-9, 1.0);
  return {fraction, {}};
}

std::shared_ptr<const AnnealingPath> path_option(const Spec& s) {
  return make_annealing_path(s.unbracketed("path", "geometric"));
}

Resampler resampler_option(const Spec& s) {
  return resampler_by_name(s.string("resampler", "systematic"));
}

namespace {

LangevinConfig langevin_config(const Spec& s, const SamplerContext& c) {
  return {step_size_option(s, LangevinConfig{}.step_size), c.seed};
}

double ess_option(const Spec& s, double fallback) {
  const double e = s.number("ess_threshold", fallback);
  check_in_range(s.name(), "ess_threshold", e, 0.0, 1.0);
  return e;
}

std::unique_ptr<Sampler> make_annealed(const Target& t, const Spec& s, const SamplerContext& c) {
  s.allow_only({"step_size", "path", "anneal_fraction", "anneal_schedule", "fk_weights",
                "resampler", "ess_threshold"});
  AnnealedConfig a;
  a.langevin = langevin_config(s, c);
  a.path = path_option(s);
  a.schedule = schedule_option(s);
  a.total_steps = c.total_steps;
  a.fk_weights = s.flag("fk_weights", false);
  a.resampler = resampler_option(s);
  a.ess_threshold = ess_option(s, a.ess_threshold);
  return std::make_unique<AnnealedUla>(t, std::move(a));
}

std::unique_ptr<Sampler> make_ais(const Target& t, const Spec& s, const SamplerContext& c) {
  s.allow_only({"step_size", "anneal_fraction", "anneal_schedule", "resampler", "ess_threshold"});
  if (!c.init.empty() || c.init_from_file)
    throw InvalidArgument(
        "ais: starts from N(0, I), the path's normalised start; drop "
        "--init/--init-file");
  AnnealedConfig a;
  a.langevin = langevin_config(s, c);
  a.schedule = schedule_option(s);
  a.total_steps = c.total_steps;
  a.fk_weights = a.metropolis = true;
  a.resampler = resampler_option(s);
  a.ess_threshold = ess_option(s, a.ess_threshold);
  return std::make_unique<AnnealedUla>(t, std::move(a));
}

std::unique_ptr<Sampler> make_wfr(const Target& t, const Spec& s, const SamplerContext& c) {
  s.allow_only({"step_size", "density", "bandwidth", "bandwidth_rule", "resampler", "ess_threshold",
                "exchange", "exchange_block", "kde_tol"});
  WfrConfig w;
  w.step_size = step_size_option(s, w.step_size);
  w.seed = c.seed;
  w.density = s.string("density", w.density);
  w.bandwidth = bandwidth_option(s, w.bandwidth);
  w.bandwidth_rule = s.string("bandwidth_rule", w.bandwidth_rule);
  w.resampler = resampler_option(s);
  w.ess_threshold = ess_option(s, w.ess_threshold);
  w.exchange = s.string("exchange", w.exchange);
  w.exchange_block = s.count("exchange_block", w.exchange_block);
  w.kde_tol = s.number("kde_tol", w.kde_tol);
  return std::make_unique<Wfr>(t, std::move(w));
}

SamplerFactory birth_death(bool kernelised) {
  return [kernelised](const Target& t, const Spec& s,
                      const SamplerContext& c) -> std::unique_ptr<Sampler> {
    s.allow_only({"step_size", "bandwidth", "kde_tol"});
    BirthDeathConfig b;
    b.step_size = step_size_option(s, b.step_size);
    b.seed = c.seed;
    b.bandwidth = bandwidth_option(s, b.bandwidth);
    b.kde_tol = s.number("kde_tol", b.kde_tol);
    b.kernelised = kernelised;
    return std::make_unique<BirthDeath>(t, b);
  };
}

std::unique_ptr<Sampler> make_fk_corrector(const Target& t, const Spec& s,
                                           const SamplerContext& c) {
  s.allow_only({"beta", "resampler", "ess_threshold"});
  const auto* mixture = dynamic_cast<const GaussianMixture*>(&t);
  if (!mixture)
    throw InvalidArgument(
        fmt::format("fk-corrector: target {} is not a Gaussian mixture; the corrector needs its "
                    "exact diffused score (gmm-*, mix1d-*, gmm4, gmm-file)",
                    t.spec()));
  if (!c.init.empty() || c.init_from_file)
    throw InvalidArgument(
        "fk-corrector: starts from N(0, I) by construction; drop --init/--init-file");
  const double beta = s.number("beta", 2.0);
  check_positive_finite("fk-corrector", "beta", beta);
  FkCorrectorConfig f;
  f.steps = c.total_steps;
  f.seed = c.seed;
  f.resampler = resampler_option(s);
  f.ess_threshold = ess_option(s, f.ess_threshold);
  return std::make_unique<FkCorrector>(
      std::vector<DiffusedFactor>{mixture_factor(*mixture, f.sde, beta)}, mixture->dim(),
      std::move(f));
}

void add_builtins(SamplerRegistry& r) {
  r.add({"ula", "step_size=0.01", "unadjusted Langevin algorithm",
         [](const Target& t, const Spec& s, const SamplerContext& c) -> std::unique_ptr<Sampler> {
           s.allow_only({"step_size"});
           return std::make_unique<Ula>(t, langevin_config(s, c));
         }});
  r.add({"mala", "step_size=0.01", "Metropolis-adjusted Langevin algorithm",
         [](const Target& t, const Spec& s, const SamplerContext& c) -> std::unique_ptr<Sampler> {
           s.allow_only({"step_size"});
           return std::make_unique<Mala>(t, langevin_config(s, c));
         }});
  r.add({"annealed-ula",
         "step_size=0.01, path=geometric (or dilation), anneal_fraction=1 | "
         "anneal_schedule=[0:0,...,f:1], fk_weights=false, resampler=systematic, "
         "ess_threshold=0.5",
         "ULA along an annealing path, optionally with Feynman-Kac weights and log Z",
         make_annealed});
  r.add({"ais",
         "step_size=0.01, anneal_fraction=1 | anneal_schedule=[0:0,...,f:1], "
         "resampler=systematic, ess_threshold=0.5",
         "annealed importance sampling: MALA moves along the geometric path from N(0, I), "
         "Feynman-Kac weights and log Z",
         make_ais});
  r.add({"wfr",
         "step_size=0.01, density=ula-kernel (or kde), bandwidth=0 (automatic), "
         "bandwidth_rule=silverman (or median), resampler=systematic, ess_threshold=0.5, "
         "exchange=auto (or gather, blocks: across processes), exchange_block=65536",
         "Wasserstein-Fisher-Rao weighted Langevin SDE", make_wfr});
  r.add({"birth-death", "step_size=0.01, bandwidth=0 (Silverman)",
         "Langevin moves with birth-death jumps (KL rate)", birth_death(false)});
  r.add({"birth-death-kl", "step_size=0.01, bandwidth=0 (Silverman)",
         "Langevin moves with birth-death jumps (kernelised KL rate)", birth_death(true)});
  r.add({"fk-corrector", "beta=2, resampler=systematic, ess_threshold=0.5",
         "reverse diffusion to a Gaussian mixture raised to beta, with Feynman-Kac weights",
         make_fk_corrector});
}

}  // namespace

SamplerRegistry& sampler_registry() {
  static SamplerRegistry r("sampler", add_builtins);
  return r;
}

std::unique_ptr<Sampler> make_sampler(const Spec& options, const Target& target,
                                      const SamplerContext& context) {
  return sampler_registry().get(options.name()).factory(target, options, context);
}

std::unique_ptr<Sampler> make_sampler(const std::string& spec, const Target& target,
                                      const SamplerContext& context) {
  return make_sampler(Spec::parse(spec), target, context);
}

}  // namespace sf
