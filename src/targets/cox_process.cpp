#include <scoreflow/targets/cox_process.hpp>

#include <cmath>
#include <filesystem>
#include <numbers>

#include <fmt/format.h>
#include <Eigen/Cholesky>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/targets/images.hpp>

namespace sf {

PointPattern read_point_pattern(const std::string& path, std::array<double, 4> window) {
  if (!std::filesystem::exists(path)) throw IoError(fmt::format("lgcp: no point file {}", path));
  if (!(window[0] < window[1] && window[2] < window[3]))
    throw InvalidArgument(
        fmt::format("lgcp: window [{}, {}] x [{}, {}] is empty; give "
                    "window=[x0,x1,y0,y1] with x0 < x1 and y0 < y1",
                    window[0], window[1], window[2], window[3]));
  const CsvTable t = CsvTable::read(path);
  const std::size_t cx = t.column("x"), cy = t.column("y");
  PointPattern p{{}, window, std::filesystem::path(path).stem().string()};
  for (std::size_t i = 0; i < t.rows().size(); ++i) {
    const double x = t.rows()[i][cx], y = t.rows()[i][cy];
    if (!(x >= window[0] && x <= window[1] && y >= window[2] && y <= window[3]))
      throw FormatError(
          fmt::format("{}: point {} ({}, {}) lies outside the window [{}, {}] x "
                      "[{}, {}]",
                      path, i + 1, x, y, window[0], window[1], window[2], window[3]));
    p.points.push_back({x, y});
  }
  if (p.points.empty()) throw FormatError(fmt::format("{}: no points", path));
  return p;
}

PointPattern load_finpines() {
  const std::string path = data_dir() + "/posteriors/finpines.csv";
  if (!std::filesystem::exists(path))
    throw IoError(
        fmt::format("lgcp: {} is missing; run `make data` (it reads the Finnish pines "
                    "from Debian's r-cran-spatstat.data)",
                    path));
  PointPattern p = read_point_pattern(path, {-5, 5, -8, 2});
  p.name = "finpines";
  return p;
}

CoxProcess::CoxProcess(const PointPattern& data, CoxProcessConfig cfg, std::string spec)
    : cfg_(cfg), spec_(std::move(spec)) {
  const std::size_t n = cfg_.grid;
  if (n < 1 || n > 100)
    throw InvalidArgument(fmt::format("lgcp: grid is {}, but must lie in [1, 100] (d = grid²)", n));
  check_positive_finite("lgcp", "sigma2", cfg_.sigma2);
  check_positive_finite("lgcp", "beta", cfg_.beta);
  check_finite("lgcp", "mu", cfg_.mu);
  const std::size_t d = n * n;
  check_memory_fits(fmt::format("lgcp: three {} x {} matrices (grid {})", d, d, n),
                    3.0 * 8.0 * static_cast<double>(d) * static_cast<double>(d),
                    "use a smaller grid");
  counts_.assign(d, 0.0);
  const auto& w = data.window;
  for (const auto& pt : data.points) {
    // Points on the upper or right edge go into the last cell.
    auto cell = [n](double u) {
      return std::min(n - 1, static_cast<std::size_t>(std::floor(u * static_cast<double>(n))));
    };
    const std::size_t r = cell((pt[0] - w[0]) / (w[1] - w[0]));
    const std::size_t c = cell((pt[1] - w[2]) / (w[3] - w[2]));
    counts_[r * n + c] += 1;
  }
  cell_area_ = 1.0 / static_cast<double>(d);
  const auto D = static_cast<Eigen::Index>(d);
  cov_.resize(D, D);
  const double scale = static_cast<double>(n) * cfg_.beta;
  for (std::size_t a = 0; a < d; ++a)
    for (std::size_t b = 0; b < d; ++b) {
      const double di = static_cast<double>(a / n) - static_cast<double>(b / n);
      const double dj = static_cast<double>(a % n) - static_cast<double>(b % n);
      cov_(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(b)) =
          cfg_.sigma2 * std::exp(-std::sqrt(di * di + dj * dj) / scale);
    }
  Eigen::LLT<Eigen::MatrixXd> llt(cov_);
  if (llt.info() != Eigen::Success)
    throw NumericalError(
        fmt::format("lgcp: the prior covariance (grid {}, sigma2 {}, beta {}) is "
                    "not positive definite in floating point",
                    n, cfg_.sigma2, cfg_.beta));
  chol_ = llt.matrixL();
  precision_ = llt.solve(Eigen::MatrixXd::Identity(D, D));
  precision_ = 0.5 * (precision_ + precision_.transpose()).eval();
  log_norm_ = -0.5 * static_cast<double>(d) * std::log(2 * std::numbers::pi) -
              chol_.diagonal().array().log().sum();
}

double CoxProcess::poisson_row(const double* x, double* residual) const {
  double lik = 0;
  for (std::size_t c = 0; c < counts_.size(); ++c) {
    const double lambda = cell_area_ * std::exp(x[c]);
    lik += counts_[c] * x[c] - lambda;
    residual[c] = counts_[c] - lambda;
  }
  return lik;
}

void CoxProcess::evaluate(ConstRows x, double* logp, double* grad) const {
  const auto d = static_cast<Eigen::Index>(x.d);
  const double log_std_normal = -0.5 * static_cast<double>(x.d) * std::log(2 * std::numbers::pi);
  // Fixed blocks: each block's matrix product is the same whatever the thread count.
  constexpr std::size_t kBlock = 8;
  parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
    const auto X = x.slice(first, count).eigen();
    const auto rows = static_cast<Eigen::Index>(count);
    thread_local RowMatrix latent, resid, q;
    resid.resize(rows, d);
    if (cfg_.whiten) {
      latent.noalias() = X * chol_.transpose();  // rows of μ + L z
      latent.array() += cfg_.mu;
    } else {
      q.noalias() = (X.array() - cfg_.mu).matrix() * precision_;  // rows of Σ⁻¹ (x − μ)
    }
    for (Eigen::Index i = 0; i < rows; ++i) {
      const double* xi =
          cfg_.whiten ? latent.row(i).data() : x.row(first + static_cast<std::size_t>(i));
      const double lik = poisson_row(xi, &resid(i, 0));
      if (!logp) continue;
      const double prior =
          cfg_.whiten ? -0.5 * X.row(i).squaredNorm() + log_std_normal
                      : -0.5 * (X.row(i).array() - cfg_.mu).matrix().dot(q.row(i)) + log_norm_;
      logp[first + static_cast<std::size_t>(i)] = lik + prior;
    }
    if (!grad) return;
    Eigen::Map<RowMatrix> g(grad + first * x.d, rows, d);
    if (cfg_.whiten) {
      g.noalias() = resid * chol_;  // rows of Lᵀ (y − a e^x)
      g -= X;
    } else {
      g = resid - q;
    }
  });
}

}  // namespace sf
