// Forward SDEs dX = b(X, t) dt + σ(t) dW with the drift's first and second derivatives, as
// the Malliavin estimator needs them (MATH.md §6). Built-ins have hand-written ∇b and ∇²b;
// user drifts written in TorchScript get theirs from autograd (neural/torch_drift).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

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

// Built-ins, by spec (MATH.md §6, EXPERIMENTS.md E4):
//   nonlinear:a=0,beta_min=1,beta_max=25   b = −β(t)(x−a)/(1+(x−a)²), σ = √β(t), β linear in t
//   cubic:sigma=1                          b = −x³
//   ou-cubic:theta=1,sigma=0.8             b = −θx − x³
//   rational:sigma=1                       b = −2x/(1+x²)
//   ou:theta=1,sigma=1                     b = −θx
//   swirl:omega=1,sigma=1                  b = −x − |x|²x + ω·(rotation of coordinate pairs)x
//   ve:sigma_min=0.01,sigma_max=10 | vp:beta_min=0.1,beta_max=20   (MATH.md §5)
// All but swirl act on each coordinate separately.
std::unique_ptr<ForwardSde> make_builtin_sde(const std::string& spec);
std::string builtin_sde_names();

// Further kinds (the TorchScript drift) register a factory under their spec name;
// make_forward_sde tries those first, then the built-ins.
using SdeFactory = std::function<std::unique_ptr<ForwardSde>(const std::string& spec)>;
void register_sde_factory(const std::string& name, SdeFactory factory);
std::unique_ptr<ForwardSde> make_forward_sde(const std::string& spec);

}  // namespace sf
