#include <scoreflow/malliavin/malliavin_weights.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Dense>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/core/rng.hpp>

namespace sf {
namespace {

// Paths per block: every block sees the same paths whatever the thread count.
constexpr std::size_t kBlock = 256;

// Index helpers for row-major d×d and d×d×d arrays.
struct Dims {
  int d, d2, d3;
  explicit Dims(int dd) : d(dd), d2(dd * dd), d3(dd * dd * dd) {}
};

// One path's state (pointers into a block's arrays). Notation of MATH.md §6; the running
// integrals fold the double integrals of the correction term into one pass:
//   C = h Σ c_k,                 c_k = σ_k² P_k P_kᵀ,  P_k = Y_{k+1}⁻¹,
//   T[x][a][l] = h Σ_k Σ_j c_k(x,j) N_k[a][j][l],       N_k = P_k Z_{k+1},
//   V[x][a][b] = h Σ_k Σ_jl c_k(x,j) N_k[a][j][l] C_{<k}(l,b),
//   W[x][a][b] = h Σ_k Σ_jl C_{≤k}(x,j) N_k[a][j][l] c_k(l,b).
struct PathState {
  double *x, *y, *z, *ito, *c, *t, *v, *w;
};

// Work arrays of one path step (P, N and R are read again when δ is formed) and of forming
// δ; allocated once per block, not per path or snapshot.
struct Scratch {
  std::vector<double> yn, zn, hy, p, cc, cold, n, q, r, alpha, g, m1, m2, m3;
  explicit Scratch(const Dims& s)
      : yn(s.d2),
        zn(s.d3),
        hy(s.d3),
        p(s.d2),
        cc(s.d2),
        cold(s.d2),
        n(s.d3),
        q(s.d3),
        r(s.d3),
        alpha(s.d2),
        g(s.d2),
        m1(s.d2),
        m2(s.d2),
        m3(s.d2) {}
};

template <int D>
void invert(const double* a, double* out, int dd) {
  if constexpr (D == 1) {
    out[0] = 1 / a[0];
  } else if constexpr (D == 2) {
    const double det = a[0] * a[3] - a[1] * a[2];
    out[0] = a[3] / det, out[1] = -a[1] / det, out[2] = -a[2] / det, out[3] = a[0] / det;
  } else {
    using M = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<M>(out, dd, dd) = Eigen::Map<const M>(a, dd, dd).inverse();
  }
}

// One Euler step of the path and its variations, plus the running integrals.
template <int D>
void advance(const Dims& s0, double h, double sigma, const double* b, const double* jac,
             const double* hess, const double* dw, bool correction, PathState ps, Scratch& k) {
  const int d = D > 0 ? D : s0.d, d2 = d * d;
  const auto I2 = [d](int i, int j) { return i * d + j; };
  const auto I3 = [d](int i, int j, int l) { return (i * d + j) * d + l; };
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) {
      double acc = 0;
      for (int p = 0; p < d; ++p) acc += jac[I2(i, p)] * ps.y[I2(p, j)];
      k.yn[I2(i, j)] = ps.y[I2(i, j)] + h * acc;
    }
  if (correction) {
    // Z_{k+1} = Z_k + h(∇b Z_k + ∇²b[Y_k, Y_k]); hy[i][p][l] = Σ_q ∂_pq b_i Y_ql first.
    for (int i = 0; i < d; ++i)
      for (int p = 0; p < d; ++p)
        for (int l = 0; l < d; ++l) {
          double acc = 0;
          for (int q = 0; q < d; ++q) acc += hess[I3(i, p, q)] * ps.y[I2(q, l)];
          k.hy[I3(i, p, l)] = acc;
        }
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j)
        for (int l = 0; l < d; ++l) {
          double acc = 0;
          for (int p = 0; p < d; ++p)
            acc += jac[I2(i, p)] * ps.z[I3(p, j, l)] + ps.y[I2(p, j)] * k.hy[I3(i, p, l)];
          k.zn[I3(i, j, l)] = ps.z[I3(i, j, l)] + h * acc;
        }
  }
  invert<D>(k.yn.data(), k.p.data(), d);
  const double s2 = sigma * sigma;
  for (int a = 0; a < d; ++a) {
    double acc = 0;
    for (int j = 0; j < d; ++j) acc += k.p[I2(a, j)] * dw[j];
    ps.ito[a] += sigma * acc;
    for (int b2 = 0; b2 < d; ++b2) {
      double cab = 0;
      for (int j = 0; j < d; ++j) cab += k.p[I2(a, j)] * k.p[I2(b2, j)];
      k.cc[I2(a, b2)] = s2 * cab;
    }
  }
  if (correction) std::copy(ps.c, ps.c + d2, k.cold.begin());
  for (int e = 0; e < d2; ++e) ps.c[e] += h * k.cc[e];
  if (correction) {
    for (int a = 0; a < d; ++a)
      for (int j = 0; j < d; ++j)
        for (int l = 0; l < d; ++l) {
          double acc = 0;
          for (int i = 0; i < d; ++i) acc += k.p[I2(a, i)] * k.zn[I3(i, j, l)];
          k.n[I3(a, j, l)] = acc;
        }
    for (int x = 0; x < d; ++x)
      for (int a = 0; a < d; ++a)
        for (int l = 0; l < d; ++l) {
          double q = 0, r = 0;
          for (int j = 0; j < d; ++j) {
            q += k.cc[I2(x, j)] * k.n[I3(a, j, l)];
            r += ps.c[I2(x, j)] * k.n[I3(a, j, l)];
          }
          k.q[I3(x, a, l)] = q;
          k.r[I3(x, a, l)] = r;
          ps.t[I3(x, a, l)] += h * q;
        }
    for (int x = 0; x < d; ++x)
      for (int a = 0; a < d; ++a)
        for (int b2 = 0; b2 < d; ++b2) {
          double v = 0, w = 0;
          for (int l = 0; l < d; ++l) {
            v += k.q[I3(x, a, l)] * k.cold[I2(l, b2)];
            w += k.r[I3(x, a, l)] * k.cc[I2(l, b2)];
          }
          ps.v[I3(x, a, b2)] += h * v;
          ps.w[I3(x, a, b2)] += h * w;
        }
    for (int e = 0; e < d * d2; ++e) ps.z[e] = k.zn[e];
  }
  for (int i = 0; i < d; ++i) ps.x[i] += h * b[i] + sigma * dw[i];
  std::copy(k.yn.begin(), k.yn.begin() + d2, ps.y);
}

// δ at the current time from the state and the last step's P = Y⁻¹, N and R:
//   δ = Gᵀ I − Σ (u1[V] + u1[W]) G + Σ (u2[TC] − u2[V] − u2[W]) G + Σ u1[R] P,
// with α = C⁻¹, G = α P, u1[M][a][b] = Σ_x α_ax M[x][a][b], u2[M][a][b] = Σ_x α_bx M[x][a][b]
// and TC[x][a][b] = Σ_l T[x][a][l] C_lb. (The T terms of the two parts of the correction
// cancel; this is MATH.md §6's D_sG with the s-integrals swapped into the running sums.)
template <int D>
void skorokhod_weight(const Dims& s0, const PathState& ps, Scratch& k, bool correction,
                      double* delta) {
  const int d = D > 0 ? D : s0.d, d2 = d * d;
  const auto I2 = [d](int i, int j) { return i * d + j; };
  const auto I3 = [d](int i, int j, int l) { return (i * d + j) * d + l; };
  auto& alpha = k.alpha;
  auto& g = k.g;
  auto& m1 = k.m1;
  auto& m2 = k.m2;
  auto& m3 = k.m3;
  for (auto* m : {&m1, &m2, &m3}) std::fill(m->begin(), m->begin() + d2, 0.0);
  invert<D>(ps.c, alpha.data(), d);
  for (int a = 0; a < d; ++a)
    for (int i = 0; i < d; ++i) {
      double acc = 0;
      for (int b2 = 0; b2 < d; ++b2) acc += alpha[I2(a, b2)] * k.p[I2(b2, i)];
      g[I2(a, i)] = acc;
    }
  if (correction) {
    // m1 multiplies G from the left slot, m2 from the right slot, m3 multiplies P.
    for (int a = 0; a < d; ++a)
      for (int b2 = 0; b2 < d; ++b2)
        for (int x = 0; x < d; ++x) {
          const double al = alpha[I2(a, x)], ar = alpha[I2(b2, x)];
          double tc = 0;
          for (int l = 0; l < d; ++l) tc += ps.t[I3(x, a, l)] * ps.c[I2(l, b2)];
          m1[I2(a, b2)] -= al * (ps.v[I3(x, a, b2)] + ps.w[I3(x, a, b2)]);
          m2[I2(a, b2)] += ar * (tc - ps.v[I3(x, a, b2)] - ps.w[I3(x, a, b2)]);
          m3[I2(a, b2)] += al * k.r[I3(x, a, b2)];
        }
  }
  for (int i = 0; i < d; ++i) {
    double acc = 0;
    for (int a = 0; a < d; ++a) {
      acc += g[I2(a, i)] * ps.ito[a];
      if (!correction) continue;
      for (int b2 = 0; b2 < d; ++b2)
        acc += m1[I2(a, b2)] * g[I2(b2, i)] + m2[I2(a, b2)] * g[I2(a, i)] +
               m3[I2(a, b2)] * k.p[I2(b2, i)];
    }
    delta[i] = acc;
  }
}

struct Block {
  Dims s;
  std::size_t n;
  std::vector<double> x, y, z, ito, c, t, v, w;
  std::vector<double> b, jac, hess, dw;
  Block(const Dims& dims, std::size_t count)
      : s(dims),
        n(count),
        x(count * dims.d),
        y(count * dims.d2, 0.0),
        z(count * dims.d3, 0.0),
        ito(count * dims.d, 0.0),
        c(count * dims.d2, 0.0),
        t(count * dims.d3, 0.0),
        v(count * dims.d3, 0.0),
        w(count * dims.d3, 0.0),
        b(count * dims.d),
        jac(count * dims.d2),
        hess(count * dims.d3),
        dw(count * dims.d) {
    for (std::size_t p = 0; p < count; ++p)
      for (int i = 0; i < dims.d; ++i) y[p * dims.d2 + i * dims.d + i] = 1;
  }
  PathState path(std::size_t p) {
    return {&x[p * s.d],  &y[p * s.d2], &z[p * s.d3], &ito[p * s.d],
            &c[p * s.d2], &t[p * s.d3], &v[p * s.d3], &w[p * s.d3]};
  }
};

void check_path(const double* x, const double* delta, int d, std::size_t path, std::size_t step) {
  for (int i = 0; i < d; ++i)
    if (!std::isfinite(x[i]) || !std::isfinite(delta[i]))
      throw NumericalError(fmt::format(
          "malliavin: path {} is not finite at step {} (X or its weight overflowed); use more "
          "steps (a smaller step size) or a drift that does not blow up",
          path, step));
}

template <int D>
void run_block(const ForwardSde& sde, ConstRows x0, const MalliavinOptions& opt, std::size_t first,
               std::size_t count, MalliavinPaths& out) {
  const Dims s(static_cast<int>(x0.d));
  Block blk(s, count);
  Scratch k(s);
  std::copy(x0.row(first), x0.row(first) + count * x0.d, blk.x.begin());
  const double h = opt.horizon / static_cast<double>(opt.steps), sqrt_h = std::sqrt(h);
  const bool corr = opt.correction && !sde.linear();
  const std::size_t every = opt.steps / opt.snapshots;
  for (std::size_t step = 0; step < opt.steps; ++step) {
    const double t = h * static_cast<double>(step);
    sde.drift(blk.x.data(), count, x0.d, t, blk.b.data(), blk.jac.data(),
              corr ? blk.hess.data() : nullptr);
    fill_normals(opt.seed, Stream::malliavin, step, opt.first_path + first, count, x0.d,
                 blk.dw.data());
    for (auto& e : blk.dw) e *= sqrt_h;
    const double sigma = sde.sigma(t);
    const bool snap = (step + 1) % every == 0;
    const std::size_t m = snap ? (step + 1) / every - 1 : 0;  // snapshot index
    for (std::size_t p = 0; p < count; ++p) {
      const PathState ps = blk.path(p);
      advance<D>(s, h, sigma, &blk.b[p * s.d], &blk.jac[p * s.d2], &blk.hess[p * s.d3],
                 &blk.dw[p * s.d], corr, ps, k);
      if (!snap) continue;
      double* xo = out.x[m].row(first + p);
      double* delta = out.delta[m].row(first + p);
      std::copy(ps.x, ps.x + s.d, xo);
      skorokhod_weight<D>(s, ps, k, corr, delta);
      check_path(xo, delta, s.d, opt.first_path + first + p, step + 1);
    }
  }
}

void check_options(const ForwardSde& sde, ConstRows x0, const MalliavinOptions& opt) {
  check_positive_finite("malliavin", "horizon T", opt.horizon);
  check_positive("malliavin", "steps", opt.steps);
  check_positive("malliavin", "snapshots", opt.snapshots);
  check_positive("malliavin", "paths", x0.n);
  check_positive("malliavin", "dimension", x0.d);
  if (opt.steps % opt.snapshots != 0)
    throw InvalidArgument(fmt::format("malliavin: snapshots is {}, but must divide steps ({})",
                                      opt.snapshots, opt.steps));
  if (sde.dim() != 0 && sde.dim() != x0.d)
    throw InvalidArgument(
        fmt::format("malliavin: the starting points have dimension {}, but the "
                    "drift {} is written for dimension {}",
                    x0.d, sde.name(), sde.dim()));
  for (std::size_t i = 0; i < x0.n * x0.d; ++i)
    if (!std::isfinite(x0.data[i]))
      throw InvalidArgument(fmt::format("malliavin: starting point {} is not finite", i / x0.d));
  check_memory_fits("malliavin: the paths' snapshots",
                    malliavin_memory_bytes(x0.n, x0.d, opt.snapshots),
                    "use fewer paths or snapshots");
}

}  // namespace

double malliavin_memory_bytes(std::size_t n, std::size_t d, std::size_t snapshots) {
  const double per_path_state = static_cast<double>(4 * d * d * d + 2 * d * d + 2 * d);
  return 8.0 * (static_cast<double>(2 * n * d * snapshots) +
                per_path_state * static_cast<double>(std::min(n, kBlock)) * 2);
}

MalliavinPaths malliavin_weights(const ForwardSde& sde, ConstRows x0, const MalliavinOptions& opt) {
  check_options(sde, x0, opt);
  MalliavinPaths out;
  for (std::size_t m = 1; m <= opt.snapshots; ++m) {
    out.times.push_back(opt.horizon * static_cast<double>(m) / static_cast<double>(opt.snapshots));
    out.x.emplace_back(x0.n, x0.d);
    out.delta.emplace_back(x0.n, x0.d);
  }
  const auto run = [&](std::size_t first, std::size_t count) {
    switch (x0.d) {
      case 1:
        return run_block<1>(sde, x0, opt, first, count, out);
      case 2:
        return run_block<2>(sde, x0, opt, first, count, out);
      case 3:
        return run_block<3>(sde, x0, opt, first, count, out);
      default:
        return run_block<0>(sde, x0, opt, first, count, out);
    }
  };
  const std::size_t blocks = (x0.n + kBlock - 1) / kBlock;
  Progress progress(blocks, "malliavin paths");
  std::size_t done = 0;
  if (!sde.thread_safe()) {
    for (std::size_t b = 0; b < blocks; ++b) {
      run(b * kBlock, std::min(kBlock, x0.n - b * kBlock));
      progress.update(++done);
    }
  } else {
    // Exceptions must not leave an OpenMP region: keep the first and rethrow it after.
    std::exception_ptr error;
    parallel_blocks(x0.n, kBlock, [&](std::size_t first, std::size_t count) {
      try {
        run(first, count);
      } catch (...) {
#pragma omp critical
        if (!error) error = std::current_exception();
      }
#pragma omp critical
      progress.update(++done);
    });
    if (error) std::rethrow_exception(error);
  }
  progress.finish();
  return out;
}

}  // namespace sf
