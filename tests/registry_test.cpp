// Every kind of part has one registry that lists itself, refuses a name twice and takes a
// user's entry at run time, which then works wherever a built-in name does.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <scoreflow/core/error.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/sde/forward_sde.hpp>
#include <scoreflow/targets/registry.hpp>

#include "helpers.hpp"

namespace sf {
namespace {

// A user's target: N(mu, I) in d dimensions, written row by row.
class Shifted : public RowwiseTarget<Shifted> {
 public:
  Shifted(std::size_t d, double mu) : d_(d), mu_(mu) {}
  std::string spec() const override { return "shifted (test)"; }
  std::size_t dim() const override { return d_; }
  double log_density_row(const double* x) const {
    double s = 0;
    for (std::size_t j = 0; j < d_; ++j) s -= 0.5 * (x[j] - mu_) * (x[j] - mu_);
    return s;
  }
  void score_row(const double* x, double* g) const {
    for (std::size_t j = 0; j < d_; ++j) g[j] = mu_ - x[j];
  }

 private:
  std::size_t d_;
  double mu_;
};

TEST(Registries, AUserTargetIsMadeByNameLikeABuiltIn) {
  target_registry().add(
      {"test-shifted", "d=2, mu=0", "N(mu, I)", [](const Spec& s) -> std::unique_ptr<Target> {
         s.allow_only({"d", "mu"});
         return std::make_unique<Shifted>(s.count("d", 2), s.number("mu", 0));
       }});
  const auto t = make_target("test-shifted:d=3,mu=2");
  EXPECT_EQ(t->dim(), 3u);
  EXPECT_NE(target_registry().names().find("test-shifted"), std::string::npos);
  EXPECT_THROW(make_target("test-shifted:sigma=1"), InvalidArgument);
  // A name is taken once unless replaced on purpose.
  EXPECT_THROW(target_registry().add(
                   {"gauss", "", "", [](const Spec&) { return std::unique_ptr<Target>(); }}),
               InvalidArgument);
  EXPECT_THROW(target_registry().add(
                   {"bad:name", "", "", [](const Spec&) { return std::unique_ptr<Target>(); }}),
               InvalidArgument);
  // MALA through the sampler registry on the user's target reaches its mean within 4 SE.
  const auto mala = make_sampler("mala:step_size=0.5", *t, {5, 300, "", false});
  SamplerState s = mala->init(test::draw("gauss:d=3", 2000, 1));
  run(*mala, s, 300, {});
  for (std::size_t j = 0; j < 3; ++j) {
    double m = 0;
    for (std::size_t i = 0; i < s.x.n(); ++i) m += s.x(i, j) / static_cast<double>(s.x.n());
    EXPECT_NEAR(m, 2.0, 4 / std::sqrt(2000.0)) << j;
  }
}

TEST(Registries, AUserSamplerResamplerPathAndSdeAreFoundByName) {
  sampler_registry().add(
      {"test-ula-half", "", "ULA at half the given step",
       [](const Target& t, const Spec& s, const SamplerContext& c) -> std::unique_ptr<Sampler> {
         s.allow_only({"step_size"});
         return std::make_unique<Ula>(t, LangevinConfig{0.5 * step_size_option(s, 0.02), c.seed});
       }});
  const auto target = make_target("gauss:d=2");
  const auto user = make_sampler("test-ula-half:step_size=0.1", *target, {3, 10, "", false});
  const auto builtin = make_sampler("ula:step_size=0.05", *target, {3, 10, "", false});
  SamplerState a = user->init(test::draw("gauss:d=2", 50, 2)),
               b = builtin->init(test::draw("gauss:d=2", 50, 2));
  run(*user, a, 10, {});
  run(*builtin, b, 10, {});
  EXPECT_EQ(a.x.values(), b.x.values());

  resampler_registry().add({"test-first", "", "always the first particle",
                            [](std::span<const double>, std::size_t count, Draws&) {
                              return std::vector<std::size_t>(count, 0);
                            }});
  EXPECT_EQ(resampler_by_name("test-first").name, "test-first");
  EXPECT_THROW(resampler_by_name("bootstrap"), InvalidArgument);

  annealing_path_registry().add(
      {"test-geometric", "", "", [](const Spec&) -> std::shared_ptr<const AnnealingPath> {
         return std::make_shared<GeometricPath>();
       }});
  EXPECT_EQ(make_annealing_path("test-geometric")->name(), "geometric");

  sde_registry().add({"test-ou", "", "", [](const Spec&) { return make_forward_sde("ou"); }});
  EXPECT_EQ(make_forward_sde("test-ou")->name(), "ou");
  try {
    make_forward_sde("nope");
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("valid forward SDEs: nonlinear"), std::string::npos);
  }
}

}  // namespace
}  // namespace sf
