#include <scoreflow/sde/forward_sampler.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <Eigen/Dense>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>

namespace sf {
namespace {

constexpr std::size_t kNodes = std::size_t{1} << 14;

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;

// Fractional node index of s on a grid of step h, clamped to the last cell.
std::pair<std::size_t, double> locate(double s, double h, std::size_t cells) {
  const double u = std::clamp(s / h, 0.0, static_cast<double>(cells));
  const std::size_t i = std::min(static_cast<std::size_t>(u), cells - 1);
  return {i, u - static_cast<double>(i)};
}

// The start of draw j: row j mod N, moved by N(0, jitter² I).
void draw_start(const StartLaw& start, std::size_t j, Draws& draws, double* x) {
  const std::size_t d = start.dim();
  std::copy_n(start.rows.row(j % start.rows.n()), d, x);
  if (start.jitter > 0)
    for (std::size_t i = 0; i < d; ++i) x[i] += start.jitter * draws.normal();
}

class EulerSampler final : public ForwardSampler {
 public:
  EulerSampler(const ForwardSde& sde, StartLaw start, double horizon, std::size_t steps)
      : sde_(sde), start_(std::move(start)), h_(horizon / static_cast<double>(steps)) {}

  void sample(std::size_t j, double s, Draws& draws, double* x) const override {
    const std::size_t d = start_.dim();
    draw_start(start_, j, draws, x);
    const std::size_t k = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(s / h_)));
    const double dt = s / static_cast<double>(k), sq = std::sqrt(dt);
    thread_local std::vector<double> b;
    b.resize(d);
    for (std::size_t step = 0; step < k; ++step) {
      const double t = static_cast<double>(step) * dt, sig = sde_.sigma(t);
      sde_.drift(x, 1, d, t, b.data(), nullptr, nullptr);
      for (std::size_t i = 0; i < d; ++i) x[i] += b[i] * dt + sig * sq * draws.normal();
    }
  }

 private:
  const ForwardSde& sde_;
  StartLaw start_;
  double h_;
};

// Ψ, c and Σ of an affine drift at the nodes of [0, horizon].
struct LinearMoments {
  double h = 0;
  std::vector<Mat> psi, sigma;
  std::vector<Vec> c;

  LinearMoments(const ForwardSde& sde, std::size_t d, double horizon, std::size_t cells) {
    h = horizon / static_cast<double>(cells);
    Mat p = Mat::Identity(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d));
    Mat v = Mat::Zero(p.rows(), p.cols());
    Vec m = Vec::Zero(p.rows());
    psi.push_back(p), sigma.push_back(v), c.push_back(m);
    for (std::size_t i = 0; i < cells; ++i) {
      rk4(sde, static_cast<double>(i) * h, p, m, v);
      psi.push_back(p), sigma.push_back(v), c.push_back(m);
    }
  }

  // A(t) = ∇b and b(0, t): the drift is A x + b(0, t).
  static void affine(const ForwardSde& sde, double t, Mat& a, Vec& b0) {
    const auto d = static_cast<std::size_t>(b0.size());
    std::vector<double> zero(d, 0.0), b(d), jac(d * d);
    sde.drift(zero.data(), 1, d, t, b.data(), jac.data(), nullptr);
    for (std::size_t i = 0; i < d; ++i) {
      b0(static_cast<Eigen::Index>(i)) = b[i];
      for (std::size_t k = 0; k < d; ++k)
        a(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) = jac[i * d + k];
    }
  }

  void rk4(const ForwardSde& sde, double t, Mat& p, Vec& m, Mat& v) const {
    const auto d = p.rows();
    Mat a(d, d);
    Vec b0(d);
    const auto rhs = [&](double u, const Mat& pp, const Vec& mm, const Mat& vv, Mat& dp, Vec& dm,
                         Mat& dv) {
      affine(sde, u, a, b0);
      const double g2 = std::pow(sde.sigma(u), 2);
      dp = a * pp;
      dm = a * mm + b0;
      dv = a * vv + vv * a.transpose() + g2 * Mat::Identity(d, d);
    };
    Mat p1, p2, p3, p4, v1, v2, v3, v4;
    Vec m1, m2, m3, m4;
    rhs(t, p, m, v, p1, m1, v1);
    rhs(t + h / 2, p + h / 2 * p1, m + h / 2 * m1, v + h / 2 * v1, p2, m2, v2);
    rhs(t + h / 2, p + h / 2 * p2, m + h / 2 * m2, v + h / 2 * v2, p3, m3, v3);
    rhs(t + h, p + h * p3, m + h * m3, v + h * v3, p4, m4, v4);
    p += h / 6 * (p1 + 2 * p2 + 2 * p3 + p4);
    m += h / 6 * (m1 + 2 * m2 + 2 * m3 + m4);
    v += h / 6 * (v1 + 2 * v2 + 2 * v3 + v4);
  }

  void at(double s, Mat& p, Vec& m, Mat& v) const {
    const auto [i, w] = locate(s, h, psi.size() - 1);
    p = (1 - w) * psi[i] + w * psi[i + 1];
    m = (1 - w) * c[i] + w * c[i + 1];
    v = (1 - w) * sigma[i] + w * sigma[i + 1];
  }
};

class LinearSampler final : public ForwardSampler {
 public:
  LinearSampler(const ForwardSde& sde, StartLaw start, double horizon)
      : start_(std::move(start)), moments_(sde, start_.dim(), horizon, kNodes) {}

  void sample(std::size_t j, double s, Draws& draws, double* out) const override {
    const auto d = static_cast<Eigen::Index>(start_.dim());
    Vec x0(d), xi(d);
    draw_start(start_, j, draws, x0.data());
    Mat p, v;
    Vec m;
    moments_.at(s, p, m, v);
    for (Eigen::Index i = 0; i < d; ++i) xi(i) = draws.normal();
    // Σ(s) is positive definite for s > 0; at s = 0 the law is the start itself.
    const Eigen::LLT<Mat> llt(v);
    Vec x = p * x0 + m;
    if (llt.info() == Eigen::Success) x += llt.matrixL() * xi;
    std::copy_n(x.data(), d, out);
  }

 private:
  StartLaw start_;
  LinearMoments moments_;
};

}  // namespace

TimeChange::TimeChange(const ForwardSde& sde, double horizon)
    : horizon_(horizon), h_(horizon / static_cast<double>(kNodes)), theta_(kNodes + 1, 0.0) {
  check_positive_finite("time change", "horizon", horizon);
  for (std::size_t i = 0; i < kNodes; ++i) {
    const double a = static_cast<double>(i) * h_;
    const auto g2 = [&](double u) { return std::pow(sde.sigma(u), 2); };
    theta_[i + 1] = theta_[i] + 0.5 * h_ / 6 * (g2(a) + 4 * g2(a + h_ / 2) + g2(a + h_));
  }
}

double TimeChange::theta(double s) const {
  const auto [i, w] = locate(s, h_, kNodes);
  return (1 - w) * theta_[i] + w * theta_[i + 1];
}

double TimeChange::inverse(double th) const {
  const auto it = std::upper_bound(theta_.begin(), theta_.end(), th);
  if (it == theta_.begin()) return 0;
  if (it == theta_.end()) return horizon_;
  const std::size_t i = static_cast<std::size_t>(it - theta_.begin()) - 1;
  const double span = theta_[i + 1] - theta_[i];
  const double w = span > 0 ? (th - theta_[i]) / span : 0;
  return (static_cast<double>(i) + w) * h_;
}

std::unique_ptr<ForwardSampler> make_forward_sampler(const ForwardSde& sde, StartLaw start,
                                                     double horizon, std::size_t euler_steps) {
  check_positive_finite("forward sampler", "horizon", horizon);
  check_positive("forward sampler", "start rows", start.rows.n());
  if (sde.dim() != 0) check_dim("forward sampler", "start points", start.dim(), sde.dim());
  if (sde.linear()) return std::make_unique<LinearSampler>(sde, std::move(start), horizon);
  check_positive("forward sampler", "Euler steps", euler_steps);
  return std::make_unique<EulerSampler>(sde, std::move(start), horizon, euler_steps);
}

GaussianLaw linear_sde_law(const ForwardSde& sde, const std::vector<double>& x0, double s0,
                           double s) {
  if (!sde.linear())
    throw InvalidArgument(fmt::format("{}: the exact law needs a drift affine in x", sde.name()));
  const std::size_t d = x0.size();
  const LinearMoments lm(sde, d, s, 4096);
  Mat p, v;
  Vec m;
  lm.at(s, p, m, v);
  const Vec mean = p * Eigen::Map<const Vec>(x0.data(), static_cast<Eigen::Index>(d)) + m;
  const Mat cov = v + s0 * s0 * p * p.transpose();
  return {std::vector<double>(mean.data(), mean.data() + d),
          std::vector<double>(cov.data(), cov.data() + d * d)};  // symmetric: order is moot
}

double GaussianLaw::log_density(const double* y) const {
  const auto d = static_cast<Eigen::Index>(mean.size());
  const Eigen::Map<const Mat> cov_m(cov.data(), d, d);
  const Eigen::LLT<Mat> llt(cov_m);
  const Vec r = Eigen::Map<const Vec>(y, d) - Eigen::Map<const Vec>(mean.data(), d);
  const Vec w = llt.matrixL().solve(r);
  const double logdet = 2 * llt.matrixLLT().diagonal().array().log().sum();
  return -0.5 * w.squaredNorm() - 0.5 * logdet -
         0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi);
}

std::vector<double> GaussianLaw::score(const double* y) const {
  const auto d = static_cast<Eigen::Index>(mean.size());
  const Eigen::Map<const Mat> cov_m(cov.data(), d, d);
  const Vec r = Eigen::Map<const Vec>(mean.data(), d) - Eigen::Map<const Vec>(y, d);
  const Vec g = cov_m.llt().solve(r);
  return std::vector<double>(g.data(), g.data() + d);
}

}  // namespace sf
