#include <scoreflow/runs/observers.hpp>

namespace sf {

Particles head(const Particles& x, std::size_t m) {
  m = std::min(m, x.n());
  Particles h(m, x.d(), std::vector<double>(x.data(), x.data() + m * x.d()));
  if (x.weighted()) h.log_weights().assign(x.log_weights().begin(), x.log_weights().begin() + m);
  return h;
}

}  // namespace sf
