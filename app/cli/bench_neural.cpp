#include "cli/bench_neural.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/targets/registry.hpp>

#include <fmt/format.h>

namespace sf {

nlohmann::json bench_train(const std::string& loss, const BenchOptions& o) {
  torch::set_num_threads(o.threads > 0 ? o.threads : 1);
  const std::int64_t d = o.dim, batch = o.n             ? static_cast<std::int64_t>(o.n)
                                        : loss == "dsm" ? 256
                                                        : 100;
  const std::size_t steps = o.steps ? o.steps : 500;
  NetConfig cfg;
  cfg.dim = d;
  cfg.hidden = {128, 128, 128};
  TrainOptions t;
  t.loss = loss;
  t.batch = static_cast<std::size_t>(batch);
  t.ema = 0;  // as the reference: plain Adam
  t.schedule = "constant";
  t.eval_every = 1u << 30;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto data = torch::randn({20000, d}, gen);
  std::vector<double> rates;
  for (std::size_t r = 0; r <= o.repeats; ++r) {  // the first repeat warms up
    t.steps = steps;
    Trainer trainer(make_score_net(cfg, r), t, data, data.slice(0, 0, 100));
    const auto start = std::chrono::steady_clock::now();
    trainer.run(steps);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (r) rates.push_back(static_cast<double>(steps) / secs);
  }
  std::sort(rates.begin(), rates.end());
  return {{"loss", loss},
          {"batch", batch},
          {"dim", d},
          {"threads", o.threads > 0 ? o.threads : 1},
          {"steps_per_second", rates[rates.size() / 2]}};
}

nlohmann::json bench_sbtm(const BenchOptions& o) {
  torch::set_num_threads(o.threads > 0 ? o.threads : 1);
  const std::size_t n = o.n ? o.n : 1000, d = o.dim, steps = o.steps ? o.steps : 30;
  const auto target = make_target(fmt::format("gauss:d={}", d));
  SbtmConfig c;
  c.step_size = 0.002;
  c.init_max_steps = 10;  // the pre-fit is not what is timed
  c.initial = make_target(fmt::format("gauss:d={}", d));
  Sbtm sbtm(*target, c);
  Particles x(n, d);
  c.initial->sample(1, x.rows());
  SamplerState s = sbtm.init(std::move(x));
  std::vector<double> times;
  for (std::size_t k = 0; k < steps + 3; ++k) {  // three warm-up steps
    const auto start = std::chrono::steady_clock::now();
    sbtm.step(s);
    if (k >= 3)
      times.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return {{"n", n},
          {"dim", d},
          {"hidden", sbtm.config()["hidden"]},
          {"seconds_per_step", times[times.size() / 2]}};
}

}  // namespace sf
