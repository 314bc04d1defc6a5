#include <scoreflow/samplers/sbtm.hpp>

#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/targets/registry.hpp>
#include <scoreflow/targets/spec.hpp>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/neural/trainer.hpp>

namespace sf {

struct Sbtm::Model {
  NetConfig net_config;
  std::shared_ptr<ResMlpImpl> net;
  std::unique_ptr<Trainer> trainer;        // created on the first particles; keeps AdamW's state
  std::unique_ptr<FusedMlpTrainer> infer;  // fused forward over all particles
  std::vector<float> in, out;              // its float32 copies, kept between steps
  std::size_t pre_fit_steps = 0;
  double pre_fit_loss = NAN;
};

void SbtmConfig::validate(std::size_t dim) const {
  check_positive_finite("sbtm", "step size --step-size", step_size);
  check_positive("sbtm", "--train-steps", train_steps);
  check_positive("sbtm", "--batch", batch);
  check_positive_finite("sbtm", "--lr", lr);
  check_in_range("sbtm", "--weight-decay", weight_decay, 0, 1);
  check_in_range("sbtm", "--loss-tol", loss_tol, 0, INFINITY);
  check_positive_finite("sbtm", "--dsm-sigma", dsm_sigma);
  check_in_range("sbtm", "init_tol", init_tol, 0, INFINITY);
  check_positive("sbtm", "init_steps", init_max_steps);
  check_positive("sbtm", "grad_blocks", grad_blocks);
  if (!loss.empty() && loss != "ism" && loss != "ism-hutchinson" && loss != "dsm")
    throw InvalidArgument(
        fmt::format("sbtm: unknown --sbtm-loss '{}'; valid: ism, ism-hutchinson, dsm", loss));
  if (initial && initial->dim() != dim)
    throw InvalidArgument(fmt::format(
        "sbtm: the initial distribution has d = {}, the target d = {}", initial->dim(), dim));
}

SbtmIntegrator sbtm_integrator_by_name(const std::string& name) {
  if (name == "euler") return SbtmIntegrator::euler;
  if (name == "heun") return SbtmIntegrator::heun;
  throw InvalidArgument(fmt::format("sbtm: unknown integrator '{}'; valid: euler, heun", name));
}

namespace {

// All particles as float32 rows: every process trains the same network on all of them.
torch::Tensor all_particles_f32(const SamplerState& s) {
  const AllRows all = all_rows(s, s.x.values(), s.x.d());
  const auto n = static_cast<std::int64_t>(all.view.size() / s.x.d());
  return torch::from_blob(const_cast<double*>(all.view.data()),
                          {n, static_cast<std::int64_t>(s.x.d())}, torch::kFloat64)
      .to(torch::kFloat32);
}

}  // namespace

std::string name_of(SbtmIntegrator integrator) {
  return integrator == SbtmIntegrator::heun ? "heun" : "euler";
}

Sbtm::Sbtm(const Target& target, SbtmConfig cfg)
    : target_(target), cfg_(std::move(cfg)), model_(std::make_unique<Model>()) {
  const auto d = target_.dim();
  cfg_.validate(d);
  if (cfg_.loss.empty()) cfg_.loss = d <= 10 ? "ism" : "ism-hutchinson";
  if (cfg_.hidden.empty())
    cfg_.hidden = d == 1 ? std::vector<std::int64_t>{128, 128} : std::vector<std::int64_t>(4, 128);
  path_ = cfg_.path;
  NetConfig nc;
  nc.dim = static_cast<std::int64_t>(d);
  nc.hidden = cfg_.hidden;
  nc.activation = cfg_.activation;
  nc.validate();
  model_->net_config = nc;
}

Sbtm::~Sbtm() = default;

nlohmann::json Sbtm::config() const {
  return {{"sampler", "sbtm"},
          {"step_size", cfg_.step_size},
          {"seed", cfg_.seed},
          {"hidden", cfg_.hidden},
          {"activation", cfg_.activation},
          {"loss", cfg_.loss},
          {"train_steps", cfg_.train_steps},
          {"batch", cfg_.batch},
          {"lr", cfg_.lr},
          {"weight_decay", cfg_.weight_decay},
          {"loss_tol", cfg_.loss_tol},
          {"integrator", name_of(cfg_.integrator)},
          {"path", path_ ? path_->name() : "none"},
          {"init_tol", cfg_.init_tol},
          {"init_steps", cfg_.init_max_steps},
          {"grad_blocks", cfg_.grad_blocks},
          {"pre_fit_steps", model_->pre_fit_steps},
          {"pre_fit_loss", model_->pre_fit_loss}};
}

void Sbtm::model_score(ConstRows x, Rows out, std::size_t first) const {
  if (!model_->infer) model_->infer = std::make_unique<FusedMlpTrainer>(model_->net->fused_view());
  auto& in = model_->in;
  auto& o = model_->out;
  in.assign(x.data, x.data + x.n * x.d);
  o.resize(x.n * x.d);
  model_->infer->forward(in.data(), static_cast<std::int64_t>(x.n), o.data(),
                         static_cast<std::int64_t>(first));
  std::copy(o.begin(), o.end(), out.data);
}

void Sbtm::model_score_torch(ConstRows x, Rows out) const {
  torch::NoGradGuard ng;
  Particles copy(x.n, x.d, std::vector<double>(x.data, x.data + x.n * x.d));
  const auto s = model_->net
                     ->score(as_tensor(copy).to(torch::kFloat32),
                             torch::zeros({static_cast<std::int64_t>(x.n)}))
                     .to(torch::kFloat64)
                     .contiguous();
  std::copy(s.data_ptr<double>(), s.data_ptr<double>() + x.n * x.d, out.data);
}

double Sbtm::train_on(const SamplerState& s) const {
  auto& tr = *model_->trainer;
  tr.set_train_data(all_particles_f32(s));
  double sum = 0, prev = NAN;
  std::size_t k = 0;
  for (; k < cfg_.train_steps; ++k) {
    tr.run(tr.step() + 1);
    const double loss = tr.last_loss();
    sum += loss;
    if (cfg_.loss_tol > 0 && std::abs(loss - prev) < cfg_.loss_tol) {
      ++k;
      break;
    }
    prev = loss;
  }
  return sum / static_cast<double>(k);
}

SamplerState Sbtm::init(Particles x, std::size_t step) const {
  return init_shard(std::move(x), step, {});
}

SamplerState Sbtm::init_shard(Particles x, std::size_t step, const Placement& where) const {
  SamplerState s = target_state(target_, std::move(x), step, "sbtm");
  place(s, where);
  // A fresh network from the seed on every init, so the same object can run again.
  model_->net =
      std::dynamic_pointer_cast<ResMlpImpl>(make_score_net(model_->net_config, cfg_.seed));
  model_->infer.reset();
  const auto data = all_particles_f32(s);
  const auto n = data.size(0);
  TrainOptions o;
  o.loss = cfg_.loss;
  o.batch = std::min<std::size_t>(cfg_.batch, static_cast<std::size_t>(n));
  o.lr = cfg_.lr;
  o.optimizer = "adamw";
  o.weight_decay = cfg_.weight_decay;
  o.schedule = "constant";
  o.ema = 0;
  o.sigma = cfg_.dsm_sigma;
  o.steps = std::size_t{1} << 40;  // open-ended: SBTM trains as long as it moves
  o.eval_every = std::size_t{1} << 40;
  o.seed = cfg_.seed;
  o.grad_blocks = cfg_.grad_blocks;
  o.comm = s.comm;
  const auto held = data.slice(0, 0, std::min<std::int64_t>(n, 64));
  if (step == 0) {  // fit the known initial score by ESM first
    TrainOptions pre = o;
    pre.loss = cfg_.initial ? "esm" : cfg_.loss;
    pre.optimizer = "adam";
    pre.lr = 1e-3;
    const Target* init = cfg_.initial.get();
    Trainer fit(
        model_->net, pre, data, held,
        init ? batch_score([init](ConstRows b, Rows g) { init->score(b, g); }) : ScoreOfBatch{});
    std::size_t k = 0;
    double loss = INFINITY;
    // An ESM loss is ½ mean |s − ψ|² ≥ 0: stop at the tolerance. ISM has no floor: a fixed budget.
    while (k < cfg_.init_max_steps && !(cfg_.initial && loss < cfg_.init_tol)) {
      fit.run(++k);
      loss = fit.last_loss();
    }
    model_->pre_fit_steps = k, model_->pre_fit_loss = loss;
  }
  model_->trainer = std::make_unique<Trainer>(model_->net, o, data, held);
  return s;
}

void Sbtm::velocity(ConstRows x, double lambda, Rows v, std::size_t first) const {
  Particles g(x.n, x.d);
  if (path_)
    path_->score(target_, lambda, x, g.rows());
  else
    target_.score(x, g.rows());
  model_score(x, v, first);
  for (std::size_t i = 0; i < x.n * x.d; ++i) v.data[i] = g.data()[i] - v.data[i];
}

StepInfo Sbtm::step(SamplerState& s) const {
  StepInfo info;
  const double lambda = path_ ? cfg_.schedule.lambda(s.step, cfg_.total_steps) : 1.0;
  if (path_) info.lambda = lambda;
  info.train_loss = train_on(s);
  const std::size_t n = s.x.n(), d = s.x.d();
  // s.grad caches ∇log π at x; only an annealed run needs ∇log π_λ besides.
  Particles path_score;
  if (path_) {
    path_score = Particles(n, d);
    path_->score(target_, lambda, s.x.rows(), path_score.rows());
  }
  const double* g = path_ ? path_score.data() : s.grad.data();
  Particles v(n, d);
  model_score(s.x.rows(), v.rows(), s.first);
  // Relative Fisher information against π (annealed: ⟨s − ∇log π, s − ∇log π_λ⟩), and the
  // velocity v = ∇log π_λ − s_θ in the same pass.
  // Summed per particle, then over all particles in global order, whatever the shards.
  std::vector<double> fisher(n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = i * d; k < (i + 1) * d; ++k) {
      const double sx = v.data()[k];
      fisher[i] += (sx - s.grad.data()[k]) * (sx - g[k]);
      v.data()[k] = g[k] - sx;
    }
  const AllRows all_fisher = all_rows(s, fisher, 1);
  double total = 0;
  for (const double f : all_fisher.view) total += f;
  info.fisher = total / static_cast<double>(all_fisher.view.size());
  const double h = cfg_.step_size;
  if (cfg_.integrator == SbtmIntegrator::heun) {
    Particles y = s.x, v2(n, d);
    for (std::size_t i = 0; i < n * d; ++i) y.data()[i] += h * v.data()[i];
    const double lambda2 = path_ ? cfg_.schedule.lambda(s.step + 1, cfg_.total_steps) : 1.0;
    velocity(y.rows(), lambda2, v2.rows(), s.first);
    for (std::size_t i = 0; i < n * d; ++i) s.x.data()[i] += 0.5 * h * (v.data()[i] + v2.data()[i]);
  } else {
    for (std::size_t i = 0; i < n * d; ++i) s.x.data()[i] += h * v.data()[i];
  }
  target_.score(s.x.rows(), s.grad.rows());
  ++s.step;
  return info;
}

void Sbtm::save_extra(const std::string& dir) const {
  if (model_->trainer) model_->trainer->save_checkpoint(dir + "/sbtm_model");
}

void Sbtm::load_extra(const std::string& dir) const {
  if (!std::filesystem::exists(dir + "/sbtm_model/state.json"))
    throw IoError(fmt::format("--resume: '{}' has no SBTM model checkpoint (sbtm_model/)", dir));
  model_->trainer->load_checkpoint(dir + "/sbtm_model");
  model_->infer.reset();  // the parameters now live in new storage
}

namespace {

std::unique_ptr<Sampler> make_sbtm(const Target& t, const Spec& s, const SamplerContext& ctx) {
  s.allow_only({"step_size", "hidden", "activation", "loss", "dsm_sigma", "train_steps", "batch",
                "lr", "weight_decay", "loss_tol", "integrator", "anneal", "path", "anneal_fraction",
                "anneal_schedule", "init_tol", "init_steps", "grad_blocks"});
  SbtmConfig c;
  c.step_size = step_size_option(s, c.step_size);
  c.seed = ctx.seed;
  if (s.has("hidden")) c.hidden = parse_widths(s.unbracketed("hidden", ""));
  c.activation = s.string("activation", c.activation);
  c.loss = s.string("loss", c.loss);
  c.dsm_sigma = s.number("dsm_sigma", c.dsm_sigma);
  c.train_steps = s.count("train_steps", c.train_steps);
  c.batch = s.count("batch", c.batch);
  c.lr = s.number("lr", c.lr);
  c.weight_decay = s.number("weight_decay", c.weight_decay);
  c.loss_tol = s.number("loss_tol", c.loss_tol);
  c.init_tol = s.number("init_tol", c.init_tol);
  c.init_max_steps = s.count("init_steps", c.init_max_steps);
  c.grad_blocks = s.count("grad_blocks", c.grad_blocks);
  c.integrator = sbtm_integrator_by_name(s.string("integrator", "euler"));
  // Annealing is asked for by anneal=true or by naming a path.
  if (s.flag("anneal", s.has("path"))) c.path = path_option(s);
  c.schedule = schedule_option(s);
  c.total_steps = ctx.total_steps;
  // The initial law is known unless the particles come from a file: pre-fit by ESM on it.
  if (!ctx.init_from_file)
    c.initial = make_target(ctx.init.empty() ? fmt::format("gauss:d={}", t.dim()) : ctx.init);
  return std::make_unique<Sbtm>(t, std::move(c));
}

}  // namespace

void register_sbtm_sampler() {
  if (sampler_registry().contains("sbtm")) return;
  sampler_registry().add(
      {"sbtm",
       "step_size=0.01, hidden=[128,128] in 1-D else [128,128,128,128], activation=softsign "
       "(or silu), loss=ism (d <= 10) | ism-hutchinson | dsm, dsm_sigma=0.05, train_steps=10, "
       "batch=100, lr=5e-4, weight_decay=1e-4, loss_tol=0, integrator=euler (or heun), "
       "anneal=false, path=geometric, anneal_fraction=1 | anneal_schedule, init_tol=1e-4 and "
       "init_steps=4000 (the pre-fit: ESM to init_tol, at most init_steps), grad_blocks=1 (> 1: "
       "each batch's gradient in that many blocks, split over the processes)",
       "score-based transport: dx/dt = grad log pi - s_theta, s_theta trained on the particles",
       make_sbtm});
}

}  // namespace sf
