#include <scoreflow/targets/registry.hpp>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/targets/analytic.hpp>
#include <scoreflow/targets/cox_process.hpp>
#include <scoreflow/targets/gaussian.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>
#include <scoreflow/targets/logistic_regression.hpp>
#include <scoreflow/targets/spec.hpp>

namespace sf {

void Target::sample(std::uint64_t, Rows) const {
  throw InvalidArgument(fmt::format("target {} has no exact sampler", spec()));
}

namespace {

std::unique_ptr<Target> make_gauss(const Spec& s) {
  s.allow_only({"d", "mean", "var", "rho", "cov"});
  const std::size_t d = s.count("d", 2);
  // The covariance, its Cholesky factor and the precision are d x d each.
  check_memory_fits(fmt::format("{}: the d x d covariance with d = {}", s.text(), d),
                    3.0 * 8.0 * static_cast<double>(d) * static_cast<double>(d),
                    "lower d, or use a target with diagonal structure");
  auto expand = [&](const std::string& key, double fallback) {
    if (!s.has(key))
      return Eigen::VectorXd::Constant(static_cast<Eigen::Index>(d), fallback).eval();
    auto v = s.list(key);
    if (v.size() == 1) v.assign(d, v[0]);
    if (v.size() != d)
      throw InvalidArgument(
          fmt::format("{}: {} has {} values, but d = {}", s.text(), key, v.size(), d));
    return Eigen::Map<Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(d)).eval();
  };
  const Eigen::VectorXd mean = expand("mean", 0.0);
  Eigen::MatrixXd cov;
  if (s.has("cov")) {
    auto c = s.list("cov");
    if (c.size() != d * d)
      throw InvalidArgument(
          fmt::format("{}: cov has {} values, but d*d = {}", s.text(), c.size(), d * d));
    cov = Eigen::Map<Eigen::MatrixXd>(c.data(), static_cast<Eigen::Index>(d),
                                      static_cast<Eigen::Index>(d));
  } else {
    const Eigen::VectorXd var = expand("var", 1.0);
    for (Eigen::Index i = 0; i < var.size(); ++i)
      if (!(std::isfinite(var[i]) && var[i] > 0))
        throw InvalidArgument(fmt::format(
            "{}: variance {} (coordinate {}) must be positive and finite", s.text(), var[i], i));
    const Eigen::VectorXd sd = var.cwiseSqrt();
    const double rho = s.number("rho", 0.0);
    check_in_range("gauss", "rho", rho, -1.0 / std::max<double>(1.0, static_cast<double>(d) - 1),
                   1.0);
    Eigen::MatrixXd corr =
        Eigen::MatrixXd::Constant(static_cast<Eigen::Index>(d), static_cast<Eigen::Index>(d), rho);
    corr.diagonal().setOnes();
    cov = sd.asDiagonal() * corr * sd.asDiagonal();
  }
  return std::make_unique<Gaussian>(mean, cov);
}

std::unique_ptr<Target> make_logreg(const Spec& s) {
  s.allow_only({"data", "path", "label"});
  if (s.has("data") == s.has("path"))
    throw InvalidArgument(fmt::format(
        "{}: give one of data=NAME ({}) or path=FILE.csv (inputs and a 0/1 label column)", s.text(),
        fmt::join(logistic_regression_datasets(), ", ")));
  if (s.has("label") && !s.has("path"))
    throw InvalidArgument(fmt::format("{}: label= goes with path=FILE.csv", s.text()));
  LabelledData data = s.has("data")
                          ? load_logistic_regression_dataset(s.string("data", ""))
                          : read_labelled_csv(s.string("path", ""), s.string("label", ""));
  return std::make_unique<LogisticRegression>(std::move(data), s.text());
}

std::unique_ptr<Target> make_lgcp(const Spec& s) {
  s.allow_only({"grid", "sigma2", "beta", "mu", "whiten", "path", "window"});
  if (s.has("window") != s.has("path"))
    throw InvalidArgument(fmt::format(
        "{}: a point file needs its window: path=FILE.csv,window=[x0,x1,y0,y1] (without both, "
        "the Finnish pines in [-5,5] x [-8,2])",
        s.text()));
  PointPattern data;
  if (s.has("path")) {
    const auto w = s.list("window");
    if (w.size() != 4)
      throw InvalidArgument(
          fmt::format("{}: window has {} values; give [x0,x1,y0,y1]", s.text(), w.size()));
    data = read_point_pattern(s.string("path", ""), {w[0], w[1], w[2], w[3]});
  } else {
    data = load_finpines();
  }
  CoxProcessConfig c;
  c.grid = s.count("grid", c.grid);
  c.sigma2 = s.number("sigma2", c.sigma2);
  c.beta = s.number("beta", c.beta);
  c.mu = s.number("mu", std::log(static_cast<double>(data.points.size())) - c.sigma2 / 2);
  c.whiten = s.flag("whiten", false);
  return std::make_unique<CoxProcess>(data, c, s.text());
}

template <class T, class... Args>
TargetFactory fixed(Args... args) {
  return [=](const Spec& s) -> std::unique_ptr<Target> {
    s.allow_only({});
    return std::make_unique<T>(args...);
  };
}

void add_builtins(TargetRegistry& r) {
  r.add({"gauss",
         "d=2, mean=0 (scalar or [list]), var=1 (scalar or [list]: diagonal), rho=0 "
         "(equicorrelation), cov=[d*d values]",
         "N(mean, cov) in any dimension", make_gauss});
  r.add({"gmm-grid16", "", "16 unit-variance components on {-6,-2,2,6}^2",
         fixed<GaussianMixture>(make_grid16(4.0))});
  r.add({"gmm-grid16-far", "", "16 unit-variance components on {-15,-5,5,15}^2",
         fixed<GaussianMixture>(make_grid16(10.0))});
  r.add({"mix1d-near", "", "0.25 N(-2,1) + 0.75 N(2,1)",
         fixed<GaussianMixture>(make_mix1d(2.0, "mix1d-near"))});
  r.add({"mix1d-far", "", "0.25 N(-4,1) + 0.75 N(4,1)",
         fixed<GaussianMixture>(make_mix1d(4.0, "mix1d-far"))});
  r.add({"gmm4", "", "4 anisotropic components at (0,8), (0,2), (-3,5), (3,5)",
         fixed<GaussianMixture>(make_gmm4())});
  r.add(
      {"gmm-file", "path=FILE.json", "mixture from JSON {weights, means, covariances | variances}",
       [](const Spec& s) -> std::unique_ptr<Target> {
         s.allow_only({"path"});
         if (!s.has("path"))
           throw InvalidArgument("gmm-file: give the mixture file as gmm-file:path=FILE.json");
         return std::make_unique<GaussianMixture>(GaussianMixture::from_json(s.string("path", "")));
       }});
  r.add({"double-well", "", "E = x1^4 - 6x1^2 - 0.5x1 + 0.5x2^2", fixed<ManyWell>(2)});
  r.add({"many-well", "d=8 (even)", "d/2 independent double-wells",
         [](const Spec& s) -> std::unique_ptr<Target> {
           s.allow_only({"d"});
           return std::make_unique<ManyWell>(s.count("d", 8));
         }});
  r.add({"banana", "sigma=1.41421356", "-s^2(x2-x1^2)^2/2 - (1-x1)^2/(2s^2)",
         [](const Spec& s) -> std::unique_ptr<Target> {
           s.allow_only({"sigma"});
           return std::make_unique<Banana>(s.number("sigma", std::sqrt(2.0)));
         }});
  r.add({"funnel", "d=10, scale=3", "x0 ~ N(0, scale^2), rest ~ N(0, exp(x0))",
         [](const Spec& s) -> std::unique_ptr<Target> {
           s.allow_only({"d", "scale"});
           return std::make_unique<Funnel>(s.count("d", 10), s.number("scale", 3.0));
         }});
  r.add({"logreg", "data=breast-cancer|sonar|ionosphere, or path=FILE.csv (label=LAST column)",
         "Bayesian logistic regression, standardised inputs, intercept, N(0, I) prior",
         make_logreg});
  r.add({"lgcp",
         "grid=40, sigma2=1.91, beta=1/33, mu=log(points)-sigma2/2, whiten=false (x = mu + L z), "
         "path=FILE.csv with window=[x0,x1,y0,y1] (default: Finnish pines)",
         "log-Gaussian Cox process posterior on a grid x grid lattice (d = grid^2)", make_lgcp});
  r.add({"ring", "cx=4, cy=0, radius=1, noise=0.2", "ring of given radius with radial noise",
         [](const Spec& s) -> std::unique_ptr<Target> {
           s.allow_only({"cx", "cy", "radius", "noise"});
           return std::make_unique<Ring>(s.number("cx", 4), s.number("cy", 0),
                                         s.number("radius", 1), s.number("noise", 0.2));
         }});
}

}  // namespace

TargetRegistry& target_registry() {
  static TargetRegistry r("target", add_builtins);
  return r;
}

std::unique_ptr<Target> make_target(const std::string& text) {
  const Spec s = Spec::parse(text);
  try {
    return target_registry().get(s.name()).factory(s);
  } catch (const InvalidArgument& e) {
    if (target_registry().contains(s.name())) throw;
    throw InvalidArgument(std::string(e.what()) + " (see `scoreflow targets`)");
  }
}

}  // namespace sf
