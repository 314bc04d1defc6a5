#include <scoreflow/core/check.hpp>
#include <scoreflow/samplers/annealing.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>

namespace sf {

void GeometricPath::score(const Target& target, double lambda, ConstRows x, Rows out) const {
  target.score(x, out);
  parallel_rows(x.n, [&](std::size_t i) {
    for (std::size_t k = 0; k < x.d; ++k)
      out.row(i)[k] = lambda * out.row(i)[k] - (1 - lambda) * x.row(i)[k];
  });
}

void GeometricPath::log_density(const Target& target, double lambda, ConstRows x,
                                std::span<double> out) const {
  target.log_density(x, out);
  parallel_rows(x.n, [&](std::size_t i) {
    double r2 = 0;
    for (std::size_t k = 0; k < x.d; ++k) r2 += x.row(i)[k] * x.row(i)[k];
    out[i] = lambda * out[i] - (1 - lambda) * 0.5 * r2;
  });
}

namespace {
Particles scaled(ConstRows x, double factor) {
  Particles y(x.n, x.d);
  for (std::size_t i = 0; i < x.n * x.d; ++i) y.data()[i] = x.data[i] * factor;
  return y;
}
}  // namespace

void DilationPath::score(const Target& target, double lambda, ConstRows x, Rows out) const {
  const double l = std::max(lambda, min_lambda_);
  target.score(scaled(x, 1 / l).rows(), out);
  for (std::size_t i = 0; i < x.n * x.d; ++i) out.data[i] /= l;
}

void DilationPath::log_density(const Target& target, double lambda, ConstRows x,
                               std::span<double> out) const {
  const double l = std::max(lambda, min_lambda_);
  target.log_density(scaled(x, 1 / l).rows(), out);
}

namespace {

void add_builtins(AnnealingPathRegistry& r) {
  r.add({"geometric", "", "grad log pi_l = l grad log pi + (1 - l) grad log N(0, I)",
         [](const Spec& s) -> std::shared_ptr<const AnnealingPath> {
           s.allow_only({});
           return std::make_shared<GeometricPath>();
         }});
  r.add({"dilation", "min_lambda=0.2", "pi_l(x) ~ pi(x / l), l clipped below at min_lambda",
         [](const Spec& s) -> std::shared_ptr<const AnnealingPath> {
           s.allow_only({"min_lambda"});
           const double m = s.number("min_lambda", 0.2);
           check_in_range("dilation path", "min_lambda", m, 1e-9, 1.0);
           return std::make_shared<DilationPath>(m);
         }});
}

}  // namespace

AnnealingPathRegistry& annealing_path_registry() {
  static AnnealingPathRegistry r("annealing path", add_builtins);
  return r;
}

std::shared_ptr<const AnnealingPath> make_annealing_path(const std::string& text) {
  const Spec s = Spec::parse(text);
  return annealing_path_registry().get(s.name()).factory(s);
}

double LinearSchedule::lambda(std::size_t step, std::size_t total) const {
  if (knots.empty()) {
    const double t = static_cast<double>(step) / (fraction * static_cast<double>(total));
    return std::clamp(t, 0.0, 1.0);
  }
  const double s = static_cast<double>(step) / static_cast<double>(total);
  if (s >= knots.back().first) return knots.back().second;
  std::size_t k = 1;
  while (knots[k].first < s) ++k;
  const auto [s0, l0] = knots[k - 1];
  const auto [s1, l1] = knots[k];
  return l0 + (l1 - l0) * (s - s0) / (s1 - s0);
}

LinearSchedule LinearSchedule::from_knots(const std::string& spec) {
  LinearSchedule out;
  const auto bad = [&](const std::string& why) {
    return InvalidArgument(fmt::format(
        "--anneal-schedule '{}': {}; write fraction:lambda pairs such as 0:0,0.3:0.8,0.6:1", spec,
        why));
  };
  std::size_t pos = 0;
  while (pos < spec.size()) {
    const auto comma = spec.find(',', pos);
    const std::string item =
        spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const auto colon = item.find(':');
    if (colon == std::string::npos) throw bad(fmt::format("'{}' has no ':'", item));
    try {
      std::size_t u1 = 0, u2 = 0;
      const std::string a = item.substr(0, colon), b = item.substr(colon + 1);
      const double f = std::stod(a, &u1), l = std::stod(b, &u2);
      if (u1 != a.size() || u2 != b.size()) throw std::invalid_argument(item);
      out.knots.emplace_back(f, l);
    } catch (const std::logic_error&) {
      throw bad(fmt::format("'{}' is not two numbers", item));
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out.knots.size() < 2) throw bad("needs at least two points");
  if (out.knots.front().first != 0) throw bad("the first fraction must be 0");
  for (std::size_t k = 0; k < out.knots.size(); ++k) {
    const auto [f, l] = out.knots[k];
    if (!(f >= 0 && f <= 1) || !(l >= 0 && l <= 1))
      throw bad("fractions and lambdas must lie in [0, 1]");
    if (k && !(f > out.knots[k - 1].first)) throw bad("fractions must increase");
  }
  if (out.knots.back().second != 1) throw bad("the last lambda must be 1 (the target)");
  return out;
}

}  // namespace sf
