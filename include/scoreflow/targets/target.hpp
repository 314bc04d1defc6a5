// Unnormalised densities: batched log π and ∇log π, optionally exact samples, log Z, modes.
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/particles.hpp>

namespace sf {

class Target {
 public:
  virtual ~Target() = default;
  // The canonical spec string with every parameter, e.g. "gauss:d=2,mean=[0,0],...".
  virtual std::string spec() const = 0;
  virtual std::size_t dim() const = 0;
  // out[i] = log π(x_i) up to the constant log Z (see log_normaliser).
  virtual void log_density(ConstRows x, std::span<double> out) const = 0;
  // out row i = ∇log π(x_i).
  virtual void score(ConstRows x, Rows out) const = 0;
  // Both at once; targets whose two share work (a matrix product) override it.
  virtual void log_density_and_score(ConstRows x, std::span<double> logp, Rows grad) const {
    log_density(x, logp);
    score(x, grad);
  }

  // Exact i.i.d. samples; draws are keyed by (seed, row) so any thread count agrees.
  virtual bool can_sample() const { return false; }
  virtual void sample(std::uint64_t seed, Rows out) const;
  // log ∫ exp(log_density) when known (0 for normalised targets).
  virtual std::optional<double> log_normaliser() const { return std::nullopt; }
  // Mode locations, for mode-coverage diagnostics; empty when not meaningful.
  virtual std::vector<std::vector<double>> modes() const { return {}; }
  // A box [xmin, xmax, ymin, ymax] showing the mass of a 2-D target (for plots).
  virtual std::array<double, 4> plot_box() const { return {-5, 5, -5, 5}; }
};

// Implements the batched interface from per-row functions, split over threads by row.
// Derived provides: double log_density_row(const double* x) const and
//                   void score_row(const double* x, double* g) const.
// What a row-wise target must provide (checked with readable messages below).
template <class T>
concept HasRowLogDensity = requires(const T& t, const double* x) {
  { t.log_density_row(x) } -> std::convertible_to<double>;
};
template <class T>
concept HasRowScore = requires(const T& t, const double* x, double* g) {
  t.score_row(x, g);
};

template <class Derived>
class RowwiseTarget : public Target {
 public:
  void log_density(ConstRows x, std::span<double> out) const override {
    static_assert(HasRowLogDensity<Derived>,
                  "a RowwiseTarget needs `double log_density_row(const double* x) const`: log π at "
                  "one point of dim() coordinates");
    static_assert(HasRowScore<Derived>,
                  "a RowwiseTarget needs `void score_row(const double* x, double* g) const`: write "
                  "∇log π at x into g[0..dim())");
    check_shape(x, out.size());
    const auto& self = static_cast<const Derived&>(*this);
    parallel_rows(x.n, [&](std::size_t i) { out[i] = self.log_density_row(x.row(i)); });
  }
  void score(ConstRows x, Rows out) const override {
    check_shape(x, out.n);
    const auto& self = static_cast<const Derived&>(*this);
    parallel_rows(x.n, [&](std::size_t i) { self.score_row(x.row(i), out.row(i)); });
  }

 private:
  void check_shape(ConstRows x, std::size_t out_rows) const;
};

// Implements the batched interface from one function that fills log π and/or ∇log π of a
// batch (either output may be null): for targets whose two share their work, such as one
// matrix product per block of rows. Shapes are checked here, once.
class JointTarget : public Target {
 public:
  void log_density(ConstRows x, std::span<double> out) const final {
    check(x, out.size() == x.n);
    evaluate(x, out.data(), nullptr);
  }
  void score(ConstRows x, Rows out) const final {
    check(x, out.n == x.n && out.d == x.d);
    evaluate(x, nullptr, out.data);
  }
  void log_density_and_score(ConstRows x, std::span<double> logp, Rows grad) const final {
    check(x, logp.size() == x.n && grad.n == x.n && grad.d == x.d);
    evaluate(x, logp.data(), grad.data);
  }

 protected:
  virtual void evaluate(ConstRows x, double* logp, double* grad) const = 0;

 private:
  void check(ConstRows x, bool outputs_match) const {
    if (x.d != dim())
      throw InvalidArgument("target " + spec() + ": particles have dimension " +
                            std::to_string(x.d) + ", but the target has dimension " +
                            std::to_string(dim()));
    if (!outputs_match) throw InvalidArgument("target: output rows do not match input rows");
  }
};

template <class Derived>
void RowwiseTarget<Derived>::check_shape(ConstRows x, std::size_t out_rows) const {
  if (x.d != this->dim())
    throw InvalidArgument("target " + this->spec() + ": particles have dimension " +
                          std::to_string(x.d) + ", but the target has dimension " +
                          std::to_string(this->dim()));
  if (out_rows != x.n) throw InvalidArgument("target: output rows do not match input rows");
}

}  // namespace sf
