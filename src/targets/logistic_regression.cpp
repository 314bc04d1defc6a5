#include <scoreflow/targets/logistic_regression.hpp>

#include <cmath>
#include <filesystem>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/targets/images.hpp>

namespace sf {

namespace {

// log(1 + e^z) without overflow for large |z|.
double softplus(double z) {
  return std::max(z, 0.0) + std::log1p(std::exp(-std::abs(z)));
}

double sigmoid(double z) {
  if (z >= 0) return 1 / (1 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1 + e);
}

}  // namespace

LabelledData read_labelled_csv(const std::string& path, const std::string& label) {
  if (!std::filesystem::exists(path)) throw IoError(fmt::format("logreg: no data file {}", path));
  const CsvTable t = CsvTable::read(path);
  const std::size_t p = t.columns().size();
  if (p < 2)
    throw FormatError(
        fmt::format("{}: needs at least one input column and a label column, "
                    "but has {} column(s)",
                    path, p));
  const std::size_t yc = label.empty() ? p - 1 : t.column(label);
  const std::size_t n = t.rows().size();
  if (n < 2) throw FormatError(fmt::format("{}: {} data row(s); need at least 2", path, n));
  LabelledData d{RowMatrix(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(p - 1)),
                 std::vector<double>(n), std::filesystem::path(path).stem().string()};
  for (std::size_t i = 0; i < n; ++i) {
    const auto& row = t.rows()[i];
    for (std::size_t c = 0, k = 0; c < p; ++c) {
      if (!std::isfinite(row[c]))
        throw FormatError(
            fmt::format("{}: row {}, column '{}' is {}; the data must be complete "
                        "and finite",
                        path, i + 1, t.columns()[c], row[c]));
      if (c == yc) {
        if (row[c] != 0 && row[c] != 1)
          throw FormatError(fmt::format("{}: row {}: label '{}' is {}, but must be 0 or 1", path,
                                        i + 1, t.columns()[c], row[c]));
        d.labels[i] = row[c];
      } else {
        d.inputs(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k++)) = row[c];
      }
    }
  }
  return d;
}

const std::vector<std::string>& logistic_regression_datasets() {
  static const std::vector<std::string> names = {"breast-cancer", "sonar", "ionosphere"};
  return names;
}

LabelledData load_logistic_regression_dataset(const std::string& name) {
  const auto& names = logistic_regression_datasets();
  if (std::find(names.begin(), names.end(), name) == names.end())
    throw InvalidArgument(
        fmt::format("logreg: data set '{}' is not known; known: {} (or give "
                    "path=FILE.csv)",
                    name, fmt::join(names, ", ")));
  const std::string path = data_dir() + "/posteriors/" + name + ".csv";
  if (!std::filesystem::exists(path))
    throw IoError(
        fmt::format("logreg: {} is missing; run `make data` (it reads the data set from "
                    "Debian's packages)",
                    path));
  LabelledData d = read_labelled_csv(path, "label");
  d.name = name;
  return d;
}

LogisticRegression::LogisticRegression(LabelledData data, std::string spec)
    : labels_(std::move(data.labels)), spec_(std::move(spec)) {
  const Eigen::Index n = data.inputs.rows(), p = data.inputs.cols();
  design_.resize(n, p + 1);
  design_.col(0).setOnes();
  for (Eigen::Index c = 0; c < p; ++c) {
    const auto col = data.inputs.col(c);
    const double mean = col.mean();
    const double sd = std::sqrt((col.array() - mean).square().sum() / static_cast<double>(n));
    if (!(sd > 0))
      throw InvalidArgument(
          fmt::format("logreg ({}): input column {} is constant; drop it", data.name, c + 1));
    design_.col(c + 1) = (col.array() - mean) / sd;
  }
}

void LogisticRegression::evaluate(ConstRows w, double* logp, double* grad) const {
  const double log_norm = -0.5 * static_cast<double>(w.d) * std::log(2 * std::numbers::pi);
  const auto n = static_cast<std::size_t>(design_.rows());
  // Fixed blocks: each block's matrix product is the same whatever the thread count.
  constexpr std::size_t kBlock = 16;
  parallel_blocks(w.n, kBlock, [&](std::size_t first, std::size_t count) {
    const auto W = w.slice(first, count).eigen();
    thread_local RowMatrix z;
    z.noalias() = W * design_.transpose();
    for (std::size_t r = 0; r < count; ++r) {
      double ll = 0;
      for (std::size_t j = 0; j < n; ++j) {
        double& zj = z(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j));
        if (logp) ll += labels_[j] * zj - softplus(zj);
        zj = labels_[j] - sigmoid(zj);  // the residual, for the score
      }
      if (logp)
        logp[first + r] = ll - 0.5 * W.row(static_cast<Eigen::Index>(r)).squaredNorm() + log_norm;
    }
    if (grad) {
      Eigen::Map<RowMatrix> g(grad + first * w.d, static_cast<Eigen::Index>(count),
                              static_cast<Eigen::Index>(w.d));
      g.noalias() = z * design_;
      g -= W;
    }
  });
}

}  // namespace sf
