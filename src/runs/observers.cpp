#include <scoreflow/runs/observers.hpp>

#include <scoreflow/core/checkpoint.hpp>

namespace sf {

Particles head(const Particles& x, std::size_t m) {
  m = std::min(m, x.n());
  Particles h(m, x.d(), std::vector<double>(x.data(), x.data() + m * x.d()));
  if (x.weighted()) h.log_weights().assign(x.log_weights().begin(), x.log_weights().begin() + m);
  return h;
}

void CheckpointObserver::save(const SamplerState& s) {
  if (last_ == s.step) return;
  CheckpointWriter ck(dir_, s.step);
  sampler_.save_extra(ck.dir().string());
  write_npy(ck.dir() / "particles.npy", {s.x.n(), s.x.d()}, s.x.data());
  if (s.x.weighted()) write_npy(ck.dir() / "log_weights.npy", {s.x.n()}, s.x.log_weights().data());
  trace_.write(ck.dir() / "trace.csv");
  ck.commit({{"log_normaliser", s.log_normaliser},
             {"start_scale", s.start_scale},
             {"trace_state", tracer_.state()},
             {"options", options_}});
  trace_.write(dir_ / "trace.csv");  // for a look at a run in progress; resume reads the copy
  last_ = s.step;
}

}  // namespace sf
