#include <scoreflow/runs/observers.hpp>

#include <scoreflow/diagnostics/mcmc_convergence.hpp>

#include <scoreflow/core/checkpoint.hpp>
#include <scoreflow/core/error.hpp>

namespace sf {

Particles head(const Particles& x, std::size_t m) {
  m = std::min(m, x.n());
  Particles h(m, x.d(), std::vector<double>(x.data(), x.data() + m * x.d()));
  if (x.weighted()) h.log_weights().assign(x.log_weights().begin(), x.log_weights().begin() + m);
  return h;
}

void CheckpointObserver::save(const SamplerState& s) {
  if (committed_step(dir_) == s.step) return;
  CheckpointWriter ck(dir_, s.step);
  sampler_.save_extra(ck.dir().string());
  write_npy(ck.dir() / "particles.npy", {s.x.n(), s.x.d()}, s.x.data());
  if (s.x.weighted()) write_npy(ck.dir() / "log_weights.npy", {s.x.n()}, s.x.log_weights().data());
  trace_.write(ck.dir() / "trace.csv");
  trajectory_.write(ck.dir() / "trajectory.npy");
  ck.commit({{"log_normaliser", s.log_normaliser},
             {"start_scale", s.start_scale},
             {"trace_state", tracer_.state()},
             {"options", options_}});
  trace_.write(dir_ / "trace.csv");  // for a look at a run in progress; resume reads the copy
}

void TrajectoryObserver::restore(const fs::path& file) {
  if (!fs::exists(file)) return;
  const NpyArray a = read_npy(file);
  if (a.shape.size() != 3)
    throw FormatError(fmt::format("{}: expected (frames, particles, d), got {} axes", file.string(),
                                  a.shape.size()));
  frames_ = a.shape[0], rows_ = a.shape[1], d_ = a.shape[2];
  values_ = a.values;
}

std::vector<double> TrajectoryObserver::second_half(std::size_t k) const {
  const std::size_t first = frames_ / 2, draws = frames_ - first;
  std::vector<double> chains(rows_ * draws);
  for (std::size_t c = 0; c < rows_; ++c)
    for (std::size_t f = 0; f < draws; ++f)
      chains[c * draws + f] = values_[((first + f) * rows_ + c) * d_ + k];
  return chains;
}

double TrajectoryObserver::max_rhat() const {
  const std::size_t draws = frames_ - frames_ / 2;
  if (draws < 8 || rows_ < 2) return NAN;
  double worst = 0;
  for (std::size_t k = 0; k < d_; ++k) {
    const auto chains = second_half(k);
    worst = std::max(worst, rhat_rank(Chains{chains, rows_, draws}));
  }
  return worst;
}

nlohmann::json TrajectoryObserver::convergence() const {
  const std::size_t draws = frames_ - frames_ / 2;
  if (draws < 8 || rows_ < 2) return {};
  nlohmann::json rhat = nlohmann::json::array(), bulk = nlohmann::json::array(),
                 tail = nlohmann::json::array();
  for (std::size_t k = 0; k < d_; ++k) {
    const auto chains = second_half(k);
    const Chains x{chains, rows_, draws};
    rhat.push_back(rhat_rank(x));
    bulk.push_back(ess_bulk(x));
    tail.push_back(ess_tail(x));
  }
  return {{"chains", rows_},
          {"draws_per_chain", draws},
          {"every", every_},
          {"rhat", rhat},
          {"ess_bulk", bulk},
          {"ess_tail", tail},
          {"method",
           "rank-normalised split-R-hat and bulk/tail ESS (Vehtari et al. 2021) over "
           "the second half of trajectory.npy, particles as chains"}};
}

}  // namespace sf
