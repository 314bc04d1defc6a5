// Diagnostics and the Parzen estimator over NumPy arrays, computed with the GIL released.
#include <optional>

#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/ksd.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/diagnostics/mcmc_convergence.hpp>
#include <scoreflow/diagnostics/sliced_wasserstein.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>

#include "arrays.hpp"
#include "bindings.hpp"

namespace sfpy {

namespace {

// Optional log-weights for the rows of `x`.
std::optional<Array> log_weights_of(py::handle w, const char* name, const Array& x) {
  if (w.is_none()) return std::nullopt;
  Array a = as_array(w, name, 1);
  if (a.shape(0) != x.shape(0))
    throw py::value_error(
        fmt::format("{}: has {} entries, but there are {} points", name, a.shape(0), x.shape(0)));
  return a;
}

std::span<const double> span_of(const std::optional<Array>& a) {
  return a ? values_of(*a) : std::span<const double>{};
}

// Two point sets of the same dimension.
std::pair<Array, Array> pair_of(py::handle x, py::handle y) {
  Array a = as_array(x, "x", 2);
  Array b = as_array(y, "y", 2, static_cast<std::size_t>(a.shape(1)));
  return {std::move(a), std::move(b)};
}

// R̂ or ESS of (chains, draws) draws, or per quantity of (chains, draws, k) draws.
py::object mcmc_diagnostic(py::handle draws, const std::string& which) {
  py::array any = py::array::ensure(draws);
  if (!any || (any.ndim() != 2 && any.ndim() != 3))
    throw py::value_error(fmt::format(
        "{}: expected draws of shape (chains, draws) or (chains, draws, k), got {} dimensions",
        which, any ? any.ndim() : 0));
  const auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(any);
  const auto chains = static_cast<std::size_t>(a.shape(0)),
             n = static_cast<std::size_t>(a.shape(1));
  const std::size_t k = a.ndim() == 3 ? static_cast<std::size_t>(a.shape(2)) : 1;
  const auto fn = which == "rhat"       ? &sf::rhat_rank
                  : which == "ess_bulk" ? &sf::ess_bulk
                                        : &sf::ess_tail;
  std::vector<double> out(k), one(chains * n);
  for (std::size_t q = 0; q < k; ++q) {
    for (std::size_t i = 0; i < chains * n; ++i) one[i] = a.data()[i * k + q];
    out[q] = fn({one, chains, n});
  }
  if (a.ndim() == 2) return py::float_(out[0]);
  return to_numpy(std::move(out), {static_cast<py::ssize_t>(k)});
}

void bind_mcmc(py::module_& m) {
  for (const char* which : {"rhat", "ess_bulk", "ess_tail"})
    m.def((std::string("_") + which).c_str(),
          [which = std::string(which)](py::handle draws) { return mcmc_diagnostic(draws, which); },
          py::arg("draws"));
}

}  // namespace

void bind_diagnostics(py::module_& m) {
  bind_mcmc(m);
  m.def(
      "_log_z",
      [](const sf::Target& t, py::handle x, py::handle log_weights, std::size_t draws,
         std::uint64_t seed, const std::string& proposal) {
        const Array a = as_array(x, "x", 2, t.dim());
        const auto w = log_weights_of(log_weights, "log_weights", a);
        if (proposal != "gaussian" && proposal != "kde")
          throw py::value_error(
              fmt::format("log_z: proposal is '{}', but must be 'gaussian' or 'kde'", proposal));
        sf::LogZEstimate e{};
        {
          py::gil_scoped_release nogil;
          e = proposal == "gaussian"
                  ? sf::log_normaliser_is_gaussian(rows_of(a), span_of(w), t, draws, seed)
                  : sf::log_normaliser_is(rows_of(a), span_of(w), t, draws, seed);
        }
        return py::make_tuple(e.log_z, e.std_error, e.ess);  // Python objects need the GIL
      },
      py::arg("target"), py::arg("x"), py::arg("log_weights"), py::arg("draws"), py::arg("seed"),
      py::arg("proposal"));
  m.def(
      "_kl",
      [](const sf::Target& t, py::handle x, py::handle log_weights, const std::string& method,
         double bandwidth, bool clip) {
        const Array a = as_array(x, "x", 2, t.dim());
        const auto w = log_weights_of(log_weights, "log_weights", a);
        if (method != "kde" && method != "quadrature" && method != "resubstitution")
          throw py::value_error(fmt::format(
              "kl: method is '{}', but must be 'kde', 'quadrature' or 'resubstitution'", method));
        if (w && method != "kde")
          throw py::value_error(
              fmt::format("kl: method '{}' takes no log_weights (only 'kde' does)", method));
        py::gil_scoped_release nogil;
        if (method == "quadrature") return sf::kl_kde_quadrature_1d(rows_of(a), t, bandwidth);
        if (method == "resubstitution") return sf::kl_kde_resubstitution(rows_of(a), t, clip);
        return sf::kl_kde(rows_of(a), t, span_of(w), bandwidth);
      },
      py::arg("target"), py::arg("x"), py::arg("log_weights"), py::arg("method"),
      py::arg("bandwidth"), py::arg("clip"));
  m.def(
      "mmd2",
      [](py::handle x, py::handle y, std::optional<double> bandwidth, py::handle log_weights_x,
         py::handle log_weights_y) {
        const auto [a, b] = pair_of(x, y);
        const auto wa = log_weights_of(log_weights_x, "log_weights_x", a);
        const auto wb = log_weights_of(log_weights_y, "log_weights_y", b);
        py::gil_scoped_release nogil;
        const double ell = bandwidth ? *bandwidth : sf::median_distance(rows_of(a), rows_of(b));
        return sf::mmd2(rows_of(a), rows_of(b), ell, span_of(wa), span_of(wb));
      },
      py::arg("x"), py::arg("y"), py::arg("bandwidth") = py::none(),
      py::arg("log_weights_x") = py::none(), py::arg("log_weights_y") = py::none());
  m.def(
      "energy_distance",
      [](py::handle x, py::handle y, py::handle log_weights_x, py::handle log_weights_y) {
        const auto [a, b] = pair_of(x, y);
        const auto wa = log_weights_of(log_weights_x, "log_weights_x", a);
        const auto wb = log_weights_of(log_weights_y, "log_weights_y", b);
        py::gil_scoped_release nogil;
        return sf::energy_distance(rows_of(a), rows_of(b), span_of(wa), span_of(wb));
      },
      py::arg("x"), py::arg("y"), py::arg("log_weights_x") = py::none(),
      py::arg("log_weights_y") = py::none());
  m.def(
      "sliced_w2",
      [](py::handle x, py::handle y, std::size_t projections, std::uint64_t seed,
         py::handle log_weights_x, py::handle log_weights_y) {
        const auto [a, b] = pair_of(x, y);
        const auto wa = log_weights_of(log_weights_x, "log_weights_x", a);
        const auto wb = log_weights_of(log_weights_y, "log_weights_y", b);
        py::gil_scoped_release nogil;
        return sf::sliced_wasserstein2(rows_of(a), rows_of(b), projections, seed, span_of(wa),
                                       span_of(wb));
      },
      py::arg("x"), py::arg("y"), py::arg("projections") = 128, py::arg("seed") = 0,
      py::arg("log_weights_x") = py::none(), py::arg("log_weights_y") = py::none());
  m.def(
      "ksd2",
      [](py::handle x, py::handle score, py::handle log_weights, double c, double beta) {
        const Array a = as_array(x, "x", 2);
        const Array s = as_array(score, "score", 2, static_cast<std::size_t>(a.shape(1)));
        if (s.shape(0) != a.shape(0))
          throw py::value_error(
              fmt::format("score: has {} rows, but x has {}", s.shape(0), a.shape(0)));
        const auto w = log_weights_of(log_weights, "log_weights", a);
        py::gil_scoped_release nogil;
        return sf::ksd2_imq(rows_of(a), rows_of(s), span_of(w), c, beta);
      },
      py::arg("x"), py::arg("score"), py::arg("log_weights") = py::none(), py::arg("c") = 1.0,
      py::arg("beta") = -0.5);
  m.def(
      "ess",
      [](py::handle log_weights) {
        const Array w = as_array(log_weights, "log_weights", 1);
        return sf::normalised_ess(values_of(w));
      },
      py::arg("log_weights"));
  m.def(
      "_kde",
      [](py::handle data, py::handle at, double bandwidth, py::handle log_weights, double tol) {
        const Array x = as_array(data, "data", 2);
        const Array q = as_array(at, "at", 2, static_cast<std::size_t>(x.shape(1)));
        const auto w = log_weights_of(log_weights, "log_weights", x);
        sf::KdeEstimate e;
        {
          py::gil_scoped_release nogil;
          e = sf::kde_estimate(rows_of(x), rows_of(q), bandwidth, span_of(w), tol);
        }
        return py::make_tuple(
            to_numpy(std::move(e.log_density), {static_cast<py::ssize_t>(q.shape(0))}),
            to_numpy(std::move(e.score)), e.bandwidth);
      },
      py::arg("data"), py::arg("at"), py::arg("bandwidth"), py::arg("log_weights") = py::none(),
      py::arg("kde_tol") = sf::kDefaultKdeTol);
}

}  // namespace sfpy
