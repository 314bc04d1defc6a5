// Forward SDEs dX = b(X, t) dt + σ(t) dW with the drift's first and second derivatives, as
// the Malliavin estimator needs them (MATH.md §6). Built-ins have hand-written ∇b and ∇²b;
// user drifts written in TorchScript get theirs from autograd (neural/torch_drift).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <scoreflow/core/registry.hpp>
#include <scoreflow/targets/spec.hpp>

namespace sf {

class ForwardSde {
 public:
  virtual ~ForwardSde() = default;
  virtual std::string name() const = 0;
  // Scalar diffusion coefficient: the noise is σ(t) dW with W a d-dimensional Brownian motion.
  virtual double sigma(double t) const = 0;
  // True when ∇²b ≡ 0: the second variation and the Skorokhod correction vanish.
  virtual bool linear() const { return false; }
  // Dimension the drift is written for; 0 when any d works.
  virtual std::size_t dim() const { return 0; }
  // False for drifts that must not be evaluated from several threads at once.
  virtual bool thread_safe() const { return true; }
  // At n points x (n × d, row-major): b (n × d) and, unless null, jac (n × d × d,
  // jac[p][i][j] = ∂_j b_i) and hess (n × d × d × d, hess[p][i][j][l] = ∂_j ∂_l b_i).
  // Callers that only move particles pass null for both.
  virtual void drift(const double* x, std::size_t n, std::size_t d, double t, double* b,
                     double* jac, double* hess) const = 0;
};

// Forward SDEs by spec, e.g. "nonlinear:a=0,beta_min=1,beta_max=25" (MATH.md §5–6, EXPERIMENTS.md
// E4): nonlinear, cubic, ou-cubic, rational, ou, swirl, ve, vp; `script` (a TorchScript drift)
// once register_torch_parts ran; and any a user adds. All but swirl act on each coordinate
// separately.
using SdeFactory = std::function<std::unique_ptr<ForwardSde>(const Spec& spec)>;
using SdeRegistry = Registry<SdeFactory>;
SdeRegistry& sde_registry();
std::unique_ptr<ForwardSde> make_forward_sde(const std::string& spec);

}  // namespace sf
