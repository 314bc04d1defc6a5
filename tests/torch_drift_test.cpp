// TorchScript drifts: autograd's ∇b and ∇²b must give the same Malliavin weights as the
// hand-written built-ins.
#include <gtest/gtest.h>

#include <filesystem>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/malliavin/malliavin_weights.hpp>
#include <scoreflow/neural/torch_drift.hpp>
#include "helpers.hpp"

namespace sf {
namespace {

namespace fs = std::filesystem;

fs::path write_script(const std::string& name, const std::string& source) {
  const fs::path p = fs::temp_directory_path() / name;
  write_file_atomic(p, source);
  return p;
}

void expect_same_weights(const std::string& builtin, const std::string& script,
                         const std::vector<double>& x0) {
  const auto a = make_forward_sde(builtin), b = make_forward_sde(script);
  MalliavinOptions opt;
  opt.steps = 20;
  opt.snapshots = 2;
  const Particles start = test::repeat_row(x0, 300);
  const auto wa = malliavin_weights(*a, start.rows(), opt),
             wb = malliavin_weights(*b, start.rows(), opt);
  for (std::size_t m = 0; m < 2; ++m)
    for (std::size_t k = 0; k < start.n() * start.d(); ++k) {
      ASSERT_NEAR(wa.x[m].data()[k], wb.x[m].data()[k], 1e-12);
      ASSERT_NEAR(wa.delta[m].data()[k], wb.delta[m].data()[k],
                  1e-9 * (1 + std::abs(wa.delta[m].data()[k])))
          << script << " snapshot " << m << " entry " << k;
    }
}

TEST(ScriptDrift, MatchesTheBuiltInsThroughAutograd) {
  register_script_sde();
  const auto cubic = write_script("sf_drift_cubic.py",
                                  "def drift(x: Tensor, t: float) -> Tensor:\n"
                                  "    return -x - x * x * x\n");
  expect_same_weights("ou-cubic:theta=1,sigma=0.8", "script:path=" + cubic.string() + ",sigma=0.8",
                      {1.5});
  // Coupled coordinates and a time-dependent σ from the script.
  const auto swirl = write_script("sf_drift_swirl.py",
                                  "def drift(x: Tensor, t: float) -> Tensor:\n"
                                  "    r2 = (x * x).sum(dim=1, keepdim=True)\n"
                                  "    rot = torch.stack([-x[:, 1], x[:, 0]], dim=1)\n"
                                  "    return -x - r2 * x + 1.5 * rot\n"
                                  "def sigma(t: float) -> float:\n"
                                  "    return 1.0\n");
  expect_same_weights("swirl:omega=1.5", "script:path=" + swirl.string(), {0.6, -0.4});
  const auto ou = write_script("sf_drift_ou.py",
                               "def drift(x: Tensor, t: float) -> Tensor:\n"
                               "    return -2.0 * x\n");
  expect_same_weights("ou:theta=2", "script:path=" + ou.string(), {0.3, 0.1});
}

TEST(ScriptDrift, BadScriptsGiveClearErrors) {
  register_script_sde();
  EXPECT_THROW(make_forward_sde("script:path=/nonexistent.py"), InvalidArgument);
  EXPECT_THROW(make_forward_sde("script:sigma=1"), InvalidArgument);
  const auto none = write_script("sf_drift_none.py", "def f(x: Tensor) -> Tensor:\n    return x\n");
  EXPECT_THROW(make_forward_sde("script:path=" + none.string()), InvalidArgument);
  const auto shape = write_script("sf_drift_shape.py",
                                  "def drift(x: Tensor, t: float) -> Tensor:\n"
                                  "    return x.sum(dim=1)\n");
  const auto sde = make_forward_sde("script:path=" + shape.string());
  MalliavinOptions opt;
  opt.steps = 2;
  try {
    malliavin_weights(*sde, test::repeat_row({1.0, 2.0}, 3).rows(), opt);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("must return float64 [3, 2]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sf
