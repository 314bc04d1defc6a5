#include <scoreflow/targets/gaussian_mixture.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>
#include <Eigen/Cholesky>
#include <Eigen/LU>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {
namespace {
constexpr std::size_t kMaxComponents = 4096;
constexpr std::size_t kBlock = 64;         // particles per vectorised block
constexpr std::size_t kMaxSharedDim = 16;  // the shared path keeps d × kBlock on the stack
}  // namespace

GaussianMixture::GaussianMixture(std::string spec, std::vector<MixtureComponent> comps)
    : spec_(std::move(spec)), k_(comps.size()) {
  if (comps.empty()) throw InvalidArgument(spec_ + ": a mixture needs at least one component");
  if (k_ > kMaxComponents)
    throw InvalidArgument(
        fmt::format("{}: {} components, at most {} are supported", spec_, k_, kMaxComponents));
  d_ = static_cast<std::size_t>(comps[0].mean.size());
  double wsum = 0;
  for (std::size_t k = 0; k < k_; ++k) {
    const auto& c = comps[k];
    if (!(c.weight > 0) || !std::isfinite(c.weight))
      throw InvalidArgument(fmt::format("{}: weight of component {} is {}, but must be positive",
                                        spec_, k, c.weight));
    if (static_cast<std::size_t>(c.mean.size()) != d_ ||
        static_cast<std::size_t>(c.cov.rows()) != d_ ||
        static_cast<std::size_t>(c.cov.cols()) != d_)
      throw InvalidArgument(
          fmt::format("{}: component {} does not have dimension {}", spec_, k, d_));
    wsum += c.weight;
    if (!c.cov.isDiagonal()) diagonal_ = false;
  }
  for (std::size_t k = 0; k < k_; ++k) {
    const auto& c = comps[k];
    Eigen::LLT<Eigen::MatrixXd> llt(c.cov);
    if (llt.info() != Eigen::Success)
      throw InvalidArgument(
          fmt::format("{}: covariance of component {} is not positive definite", spec_, k));
    const Eigen::MatrixXd L = llt.matrixL();
    chol_.push_back(L);
    precision_.push_back(llt.solve(Eigen::MatrixXd::Identity(d_, d_)));
    weights_.push_back(c.weight / wsum);
    log_const_.push_back(std::log(c.weight / wsum) - 0.5 * d_ * std::log(2 * std::numbers::pi) -
                         L.diagonal().array().log().sum());
    for (std::size_t j = 0; j < d_; ++j) {
      means_.push_back(c.mean(j));
      inv_var_.push_back(1.0 / c.cov(j, j));
    }
  }
  shared_ = diagonal_ && d_ <= kMaxSharedDim;
  for (std::size_t k = 1; k < k_ && shared_; ++k) shared_ = comps[k].cov == comps[0].cov;
  if (shared_) {
    shared_norm_ = -0.5 * static_cast<double>(d_) * std::log(2 * std::numbers::pi);
    for (std::size_t j = 0; j < d_; ++j) shared_norm_ += 0.5 * std::log(inv_var_[j]);
    for (std::size_t k = 0; k < k_; ++k) {
      double q = 0;
      for (std::size_t j = 0; j < d_; ++j) {
        a_.push_back(means_[k * d_ + j] * inv_var_[j]);
        q += means_[k * d_ + j] * means_[k * d_ + j] * inv_var_[j];
      }
      c_.push_back(std::log(weights_[k]) - 0.5 * q);
    }
  }
}

void GaussianMixture::shared_block(const double* x, std::size_t count, double* logp,
                                   double* g) const {
  alignas(64) double xs[kMaxSharedDim][kBlock], acc[kMaxSharedDim][kBlock];
  alignas(64) double m[kBlock], total[kBlock];
  thread_local std::vector<double> lt;
  lt.resize(k_ * kBlock);
  for (std::size_t j = 0; j < d_; ++j)
    for (std::size_t t = 0; t < count; ++t) xs[j][t] = x[t * d_ + j];
  for (std::size_t k = 0; k < k_; ++k) {
    double* l = &lt[k * kBlock];
    for (std::size_t t = 0; t < count; ++t) l[t] = c_[k];
    for (std::size_t j = 0; j < d_; ++j) {
      const double a = a_[k * d_ + j];
#pragma omp simd
      for (std::size_t t = 0; t < count; ++t) l[t] += a * xs[j][t];
    }
  }
  for (std::size_t t = 0; t < count; ++t) m[t] = lt[t];
  for (std::size_t k = 1; k < k_; ++k)
#pragma omp simd
    for (std::size_t t = 0; t < count; ++t) m[t] = std::max(m[t], lt[k * kBlock + t]);
  for (std::size_t t = 0; t < count; ++t) total[t] = 0;
  for (std::size_t j = 0; j < d_; ++j)
    for (std::size_t t = 0; t < count; ++t) acc[j][t] = 0;
  for (std::size_t k = 0; k < k_; ++k) {
    double* l = &lt[k * kBlock];
#pragma omp simd
    for (std::size_t t = 0; t < count; ++t) {
      l[t] = fast_exp(l[t] - m[t]);
      total[t] += l[t];
    }
    if (!g) continue;
    for (std::size_t j = 0; j < d_; ++j) {
      const double mu = means_[k * d_ + j];
#pragma omp simd
      for (std::size_t t = 0; t < count; ++t) acc[j][t] += l[t] * mu;
    }
  }
  if (g)  // ∇log π = P(Σ_k r_k μ_k − x)
    for (std::size_t j = 0; j < d_; ++j)
      for (std::size_t t = 0; t < count; ++t)
        g[t * d_ + j] = inv_var_[j] * (acc[j][t] / total[t] - xs[j][t]);
  if (logp)
    for (std::size_t t = 0; t < count; ++t) {
      double q = 0;
      for (std::size_t j = 0; j < d_; ++j) q += inv_var_[j] * xs[j][t] * xs[j][t];
      logp[t] = m[t] + std::log(total[t]) - 0.5 * q + shared_norm_;
    }
}

void GaussianMixture::log_density(ConstRows x, std::span<double> out) const {
  if (!shared_) return RowwiseTarget::log_density(x, out);
  check_dim(spec_, "particles", x.d, d_);
  parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
    shared_block(x.row(first), count, &out[first], nullptr);
  });
}

void GaussianMixture::score(ConstRows x, Rows out) const {
  if (!shared_) return RowwiseTarget::score(x, out);
  check_dim(spec_, "particles", x.d, d_);
  parallel_blocks(x.n, kBlock, [&](std::size_t first, std::size_t count) {
    shared_block(x.row(first), count, nullptr, out.row(first));
  });
}

void GaussianMixture::component_terms(const double* x, double* logt, double* pr) const {
  for (std::size_t k = 0; k < k_; ++k) {
    const double* mu = &means_[k * d_];
    double q = 0;
    if (diagonal_) {
      const double* iv = &inv_var_[k * d_];
      for (std::size_t j = 0; j < d_; ++j) {
        const double r = x[j] - mu[j];
        pr[k * d_ + j] = iv[j] * r;
        q += r * r * iv[j];
      }
    } else {  // plain loops: an Eigen temporary here is a heap allocation per row
      const double* p = precision_[k].data();  // symmetric: column i is row i, contiguous
      for (std::size_t i = 0; i < d_; ++i) {
        double s = 0;
        for (std::size_t j = 0; j < d_; ++j) s += p[i * d_ + j] * (x[j] - mu[j]);
        pr[k * d_ + i] = s;
        q += (x[i] - mu[i]) * s;
      }
    }
    logt[k] = log_const_[k] - 0.5 * q;
  }
}

double GaussianMixture::responsibilities(const double* x, double* r, double* pr) const {
  component_terms(x, r, pr);
  double m = -INFINITY;
  for (std::size_t k = 0; k < k_; ++k) m = std::max(m, r[k]);
  double s = 0;
  for (std::size_t k = 0; k < k_; ++k) s += (r[k] = fast_exp(r[k] - m));
  for (std::size_t k = 0; k < k_; ++k) r[k] /= s;
  return m + std::log(s);
}

double GaussianMixture::log_density_row(const double* x) const {
  double r[kMaxComponents];
  thread_local std::vector<double> pr;
  pr.resize(k_ * d_);
  return responsibilities(x, r, pr.data());
}

void GaussianMixture::score_row(const double* x, double* g) const {
  double r[kMaxComponents];
  thread_local std::vector<double> pr;
  pr.resize(k_ * d_);
  responsibilities(x, r, pr.data());
  for (std::size_t j = 0; j < d_; ++j) g[j] = 0;
  for (std::size_t k = 0; k < k_; ++k)
    for (std::size_t j = 0; j < d_; ++j) g[j] -= r[k] * pr[k * d_ + j];
}

void GaussianMixture::sample(std::uint64_t seed, Rows out) const {
  std::vector<double> cum(k_);
  double c = 0;
  for (std::size_t k = 0; k < k_; ++k) cum[k] = (c += weights_[k]);
  parallel_rows(out.n, [&](std::size_t i) {
    Draws rng(seed, Stream::reference, i, 0);
    const double u = rng.uniform();
    const std::size_t k =
        std::min<std::size_t>(std::lower_bound(cum.begin(), cum.end(), u) - cum.begin(), k_ - 1);
    Eigen::VectorXd z(d_);
    rng.normals(z.data(), d_);
    Eigen::Map<Eigen::VectorXd>(out.row(i), d_) =
        Eigen::Map<const Eigen::VectorXd>(&means_[k * d_], d_) + chol_[k] * z;
  });
}

std::vector<MixtureComponent> GaussianMixture::component_list() const {
  std::vector<MixtureComponent> c;
  for (std::size_t k = 0; k < k_; ++k)
    c.push_back({weights_[k], Eigen::Map<const Eigen::VectorXd>(&means_[k * d_], d_),
                 chol_[k] * chol_[k].transpose()});
  return c;
}

std::vector<std::vector<double>> GaussianMixture::modes() const {
  std::vector<std::vector<double>> m;
  for (std::size_t k = 0; k < k_; ++k) m.emplace_back(&means_[k * d_], &means_[(k + 1) * d_]);
  return m;
}

std::array<double, 4> GaussianMixture::plot_box() const {
  std::array<double, 4> b{INFINITY, -INFINITY, INFINITY, -INFINITY};
  for (std::size_t k = 0; k < k_; ++k)
    for (std::size_t j = 0; j < std::min<std::size_t>(d_, 2); ++j) {
      const double s = 3.5 * std::sqrt(chol_[k].row(j).squaredNorm());
      b[2 * j] = std::min(b[2 * j], means_[k * d_ + j] - s);
      b[2 * j + 1] = std::max(b[2 * j + 1], means_[k * d_ + j] + s);
    }
  if (d_ == 1) b[2] = b[0], b[3] = b[1];
  return b;
}

GaussianMixture GaussianMixture::from_json(const std::filesystem::path& path) {
  const auto j = read_json(path);
  const std::string name = path.string();
  try {
    const auto means = j.at("means").get<std::vector<std::vector<double>>>();
    std::vector<double> w = j.contains("weights") ? j["weights"].get<std::vector<double>>()
                                                  : std::vector<double>(means.size(), 1.0);
    if (w.size() != means.size())
      throw FormatError(fmt::format("{}: {} weights but {} means", name, w.size(), means.size()));
    std::vector<MixtureComponent> comps;
    for (std::size_t k = 0; k < means.size(); ++k) {
      const auto d = static_cast<Eigen::Index>(means[k].size());
      MixtureComponent c{w[k], Eigen::Map<const Eigen::VectorXd>(means[k].data(), d),
                         Eigen::MatrixXd::Identity(d, d)};
      if (j.contains("covariances")) {
        const auto cov = j["covariances"].at(k).get<std::vector<std::vector<double>>>();
        if (static_cast<Eigen::Index>(cov.size()) != d)
          throw FormatError(
              fmt::format("{}: covariance {} has {} rows, expected {}", name, k, cov.size(), d));
        for (Eigen::Index r = 0; r < d; ++r) {
          if (static_cast<Eigen::Index>(cov[r].size()) != d)
            throw FormatError(fmt::format("{}: covariance {} row {} has {} entries, expected {}",
                                          name, k, r, cov[r].size(), d));
          for (Eigen::Index s = 0; s < d; ++s) c.cov(r, s) = cov[r][s];
        }
      } else if (j.contains("variances")) {
        const auto v = j["variances"].at(k).get<std::vector<double>>();
        if (static_cast<Eigen::Index>(v.size()) != d)
          throw FormatError(
              fmt::format("{}: variances {} has {} entries, expected {}", name, k, v.size(), d));
        c.cov = Eigen::Map<const Eigen::VectorXd>(v.data(), d).asDiagonal();
      }
      comps.push_back(std::move(c));
    }
    return GaussianMixture("gmm-file:path=" + name, std::move(comps));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError(
        fmt::format("{}: not a Gaussian mixture ({}); expected keys 'means', optional "
                    "'weights' and 'covariances' or 'variances'",
                    name, json_error_text(e)));
  }
}

GaussianMixture make_grid16(double spacing) {
  std::vector<MixtureComponent> comps;
  const double c[4] = {-1.5 * spacing, -0.5 * spacing, 0.5 * spacing, 1.5 * spacing};
  for (double a : c)
    for (double b : c) comps.push_back({1.0, Eigen::Vector2d(a, b), Eigen::Matrix2d::Identity()});
  return GaussianMixture(spacing > 5 ? "gmm-grid16-far" : "gmm-grid16", std::move(comps));
}

GaussianMixture make_mix1d(double offset, const std::string& name) {
  std::vector<MixtureComponent> comps;
  comps.push_back({0.25, Eigen::VectorXd::Constant(1, -offset), Eigen::MatrixXd::Identity(1, 1)});
  comps.push_back({0.75, Eigen::VectorXd::Constant(1, offset), Eigen::MatrixXd::Identity(1, 1)});
  return GaussianMixture(name, std::move(comps));
}

GaussianMixture mixture_product(const GaussianMixture& a, const GaussianMixture& b, double* log_z) {
  check_dim("mixture product", "second mixture", b.dim(), a.dim());
  const auto ca = a.component_list(), cb = b.component_list();
  const double log_2pi = std::log(2 * std::numbers::pi);
  std::vector<MixtureComponent> out;
  std::vector<double> log_w;
  for (const auto& i : ca)
    for (const auto& j : cb) {
      const Eigen::MatrixXd sum = i.cov + j.cov;
      const Eigen::LLT<Eigen::MatrixXd> llt(sum);
      const Eigen::VectorXd diff = i.mean - j.mean;
      double log_det = 0;
      for (Eigen::Index k = 0; k < sum.rows(); ++k) log_det += 2 * std::log(llt.matrixLLT()(k, k));
      log_w.push_back(
          std::log(i.weight) + std::log(j.weight) -
          0.5 * (diff.dot(llt.solve(diff)) + log_det + static_cast<double>(a.dim()) * log_2pi));
      const Eigen::MatrixXd pi = i.cov.inverse(), pj = j.cov.inverse();
      const Eigen::MatrixXd cov = (pi + pj).inverse();
      out.push_back({0, cov * (pi * i.mean + pj * j.mean), 0.5 * (cov + cov.transpose())});
    }
  double top = log_w[0];
  for (double v : log_w) top = std::max(top, v);
  double total = 0;
  for (double v : log_w) total += std::exp(v - top);
  for (std::size_t k = 0; k < out.size(); ++k) out[k].weight = std::exp(log_w[k] - top) / total;
  if (log_z) *log_z = top + std::log(total);
  return GaussianMixture(a.spec() + " * " + b.spec(), std::move(out));
}

GaussianMixture make_gmm4() {
  const Eigen::Matrix2d a = Eigen::Vector2d(1.2, 0.01).asDiagonal();
  const Eigen::Matrix2d b = Eigen::Vector2d(0.01, 2.0).asDiagonal();
  std::vector<MixtureComponent> comps{{1, Eigen::Vector2d(0, 8), a},
                                      {1, Eigen::Vector2d(0, 2), a},
                                      {1, Eigen::Vector2d(-3, 5), b},
                                      {1, Eigen::Vector2d(3, 5), b}};
  return GaussianMixture("gmm4", std::move(comps));
}

}  // namespace sf
