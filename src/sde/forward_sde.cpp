#include <scoreflow/sde/forward_sde.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/sde/linear_sde.hpp>
#include <scoreflow/targets/spec.hpp>

namespace sf {
namespace {

// b_i(x, t) = f(x_i, t): ∇b and ∇²b are diagonal.
class Componentwise final : public ForwardSde {
 public:
  // f, f′ and f″ of one coordinate at once, so shared subexpressions are computed once.
  using Scalar = std::function<void(double u, double t, double& f, double& df, double& ddf)>;
  Componentwise(std::string name, Scalar f, std::function<double(double)> sigma, bool linear)
      : name_(std::move(name)), f_(std::move(f)), sigma_(std::move(sigma)), linear_(linear) {}

  std::string name() const override { return name_; }
  double sigma(double t) const override { return sigma_(t); }
  bool linear() const override { return linear_; }

  void drift(const double* x, std::size_t n, std::size_t d, double t, double* b, double* jac,
             double* hess) const override {
    const std::size_t d2 = d * d, d3 = d2 * d;
    if (jac) std::fill(jac, jac + n * d2, 0.0);
    if (hess) std::fill(hess, hess + n * d3, 0.0);
    for (std::size_t p = 0; p < n; ++p)
      for (std::size_t i = 0; i < d; ++i) {
        double f, df, ddf;
        f_(x[p * d + i], t, f, df, ddf);
        b[p * d + i] = f;
        if (jac) jac[p * d2 + i * d + i] = df;
        if (hess) hess[p * d3 + (i * d + i) * d + i] = ddf;
      }
  }

 private:
  std::string name_;
  Scalar f_;
  std::function<double(double)> sigma_;
  bool linear_;
};

// b = −x − |x|²x + ω R x, R rotating each coordinate pair (x_{2k}, x_{2k+1}) by +90°. The
// cubic term couples all coordinates, so ∇b and ∇²b are full: the test case for the
// estimator's tensor algebra and for the 2-D Fokker–Planck comparison.
class Swirl final : public ForwardSde {
 public:
  Swirl(double omega, double sigma) : omega_(omega), sigma_(sigma) {}
  std::string name() const override {
    return fmt::format("swirl:omega={},sigma={}", omega_, sigma_);
  }
  double sigma(double) const override { return sigma_; }

  void drift(const double* xs, std::size_t n, std::size_t d, double, double* b, double* jac,
             double* hess) const override {
    const std::size_t d2 = d * d, d3 = d2 * d;
    for (std::size_t p = 0; p < n; ++p) {
      const double* x = xs + p * d;
      double r2 = 0;
      for (std::size_t i = 0; i < d; ++i) r2 += x[i] * x[i];
      double* bp = b + p * d;
      for (std::size_t i = 0; i < d; ++i) bp[i] = -x[i] - r2 * x[i];
      for (std::size_t i = 0; i + 1 < d; i += 2) {
        bp[i] -= omega_ * x[i + 1];
        bp[i + 1] += omega_ * x[i];
      }
      if (jac) {
        double* jp = jac + p * d2;
        for (std::size_t i = 0; i < d; ++i)
          for (std::size_t j = 0; j < d; ++j)
            jp[i * d + j] = -2 * x[i] * x[j] - (i == j ? 1 + r2 : 0.0);
        for (std::size_t i = 0; i + 1 < d; i += 2) {
          jp[i * d + i + 1] -= omega_;
          jp[(i + 1) * d + i] += omega_;
        }
      }
      if (!hess) continue;
      // ∂_j ∂_l (−|x|² x_i) = −2(δ_ij x_l + δ_il x_j + δ_jl x_i)
      double* hp = hess + p * d3;
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t j = 0; j < d; ++j)
          for (std::size_t l = 0; l < d; ++l)
            hp[(i * d + j) * d + l] =
                -2 * ((i == j ? x[l] : 0.0) + (i == l ? x[j] : 0.0) + (j == l ? x[i] : 0.0));
    }
  }

 private:
  double omega_, sigma_;
};

std::function<double(double)> constant(double sigma) {
  check_positive_finite("forward SDE", "sigma", sigma);
  return [sigma](double) { return sigma; };
}

std::unique_ptr<ForwardSde> make_linear(const Spec& s) {
  const bool ve = s.name() == "ve";
  const auto sde = ve ? LinearSde::by_name("ve", s.number("sigma_max", LinearSde::kVeSigmaMax))
                      : LinearSde::by_name("vp");
  if (ve) {
    s.allow_only({"sigma_max"});
  } else {
    s.allow_only({});
  }
  auto f = [sde](double u, double t, double& b, double& db, double& ddb) {
    db = sde.drift_coef(t);
    b = db * u;
    ddb = 0;
  };
  auto sigma = [sde](double t) { return std::sqrt(sde.g2(t)); };
  return std::make_unique<Componentwise>(s.text(), f, sigma, true);
}

}  // namespace

namespace {

void add_builtins(SdeRegistry& r) {
  r.add({"nonlinear", "a=0, beta_min=1, beta_max=25",
         "b = -beta(t)(x-a)/(1+(x-a)^2), sigma = sqrt(beta(t)), beta linear in t",
         [](const Spec& s) -> std::unique_ptr<ForwardSde> {
           s.allow_only({"a", "beta_min", "beta_max"});
           const double a = s.number("a", 0), b0 = s.number("beta_min", 1),
                        b1 = s.number("beta_max", 25);
           check_finite("nonlinear SDE", "a", a);
           check_positive_finite("nonlinear SDE", "beta_min", b0);
           check_positive_finite("nonlinear SDE", "beta_max", b1);
           // f = −β u/(1+u²), f′ = −β(1−u²)/(1+u²)², f″ = −β(2u³ − 6u)/(1+u²)³
           auto f = [a, b0, b1](double x, double t, double& v, double& dv, double& ddv) {
             const double beta = b0 + t * (b1 - b0), u = x - a, q = 1 / (1 + u * u);
             v = -beta * u * q;
             dv = -beta * (1 - u * u) * q * q;
             ddv = -beta * (2 * u * u * u - 6 * u) * q * q * q;
           };
           auto sigma = [b0, b1](double t) { return std::sqrt(b0 + t * (b1 - b0)); };
           return std::make_unique<Componentwise>(s.text(), f, sigma, false);
         }});
  for (const bool ou : {false, true})
    r.add({ou ? "ou-cubic" : "cubic", ou ? "theta=1, sigma=0.8" : "sigma=1",
           ou ? "b = -theta x - x^3" : "b = -x^3",
           [ou](const Spec& s) -> std::unique_ptr<ForwardSde> {
             s.allow_only(ou ? std::set<std::string>{"theta", "sigma"}
                             : std::set<std::string>{"sigma"});
             const double theta = ou ? s.number("theta", 1) : 0;
             check_finite(s.name(), "theta", theta);
             auto f = [theta](double u, double, double& v, double& dv, double& ddv) {
               v = -theta * u - u * u * u;
               dv = -theta - 3 * u * u;
               ddv = -6 * u;
             };
             return std::make_unique<Componentwise>(
                 s.text(), f, constant(s.number("sigma", ou ? 0.8 : 1)), false);
           }});
  r.add(
      {"rational", "sigma=1", "b = -2x/(1+x^2)", [](const Spec& s) -> std::unique_ptr<ForwardSde> {
         s.allow_only({"sigma"});
         auto f = [](double u, double, double& v, double& dv, double& ddv) {
           const double q = 1 / (1 + u * u);
           v = -2 * u * q;
           dv = -2 * (1 - u * u) * q * q;
           ddv = -2 * (2 * u * u * u - 6 * u) * q * q * q;
         };
         return std::make_unique<Componentwise>(s.text(), f, constant(s.number("sigma", 1)), false);
       }});
  r.add({"ou", "theta=1, sigma=1", "b = -theta x (Ornstein-Uhlenbeck)",
         [](const Spec& s) -> std::unique_ptr<ForwardSde> {
           s.allow_only({"theta", "sigma"});
           const double theta = s.number("theta", 1);
           check_finite("ou", "theta", theta);
           auto f = [theta](double u, double, double& v, double& dv, double& ddv) {
             v = -theta * u;
             dv = -theta;
             ddv = 0;
           };
           return std::make_unique<Componentwise>(s.text(), f, constant(s.number("sigma", 1)),
                                                  true);
         }});
  r.add({"swirl", "omega=1, sigma=1", "b = -x - |x|^2 x + omega (rotation of coordinate pairs) x",
         [](const Spec& s) -> std::unique_ptr<ForwardSde> {
           s.allow_only({"omega", "sigma"});
           const double sigma = s.number("sigma", 1);
           check_positive_finite("swirl", "sigma", sigma);
           return std::make_unique<Swirl>(s.number("omega", 1), sigma);
         }});
  r.add({"ve", fmt::format("sigma_max={:g}", LinearSde::kVeSigmaMax),
         "variance exploding: b = 0, sigma from 0.01 to sigma_max (MATH.md 5)", make_linear});
  r.add({"vp", "", "variance preserving: beta from 0.1 to 20 (MATH.md 5)", make_linear});
}

}  // namespace

SdeRegistry& sde_registry() {
  static SdeRegistry r("forward SDE", add_builtins);
  return r;
}

std::unique_ptr<ForwardSde> make_forward_sde(const std::string& text) {
  const Spec s = Spec::parse(text);
  return sde_registry().get(s.name()).factory(s);
}

}  // namespace sf
