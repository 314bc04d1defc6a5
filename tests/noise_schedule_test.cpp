#include <gtest/gtest.h>

#include <cmath>

#include <scoreflow/core/error.hpp>
#include <scoreflow/sde/noise_schedule.hpp>

using namespace sf;

class EverySchedule : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySchedule, ThetaIsHalfTheIntegralOfGSquared) {
  const NoiseSchedule s = NoiseSchedule::by_name(GetParam());
  EXPECT_EQ(s.theta(0.0), 0.0);
  for (double t = 0.05; t < 1; t += 0.1) {
    const double h = 1e-6;
    EXPECT_NEAR((s.theta(t + h) - s.theta(t - h)) / (2 * h), 0.5 * s.g2(t), 1e-6 * (1 + s.g2(t)))
        << t;
  }
  // Simpson's rule for ½∫_0^1 g².
  const int m = 2000;
  double integral = s.g2(0) + s.g2(1);
  for (int i = 1; i < m; ++i) integral += (i % 2 ? 4 : 2) * s.g2(static_cast<double>(i) / m);
  EXPECT_NEAR(s.theta(1.0), 0.5 * integral / (3.0 * m), 1e-8 * s.theta(1.0));
}

TEST_P(EverySchedule, TimeOfThetaInvertsTheta) {
  const NoiseSchedule s = NoiseSchedule::by_name(GetParam());
  for (double t : {0.0, 1e-4, 0.05, 0.5, 1.0}) EXPECT_NEAR(s.time_of_theta(s.theta(t)), t, 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Schedules, EverySchedule, ::testing::Values("vp", "ve", "nonlinear"));

TEST(NoiseSchedule, ClosedFormsAndNames) {
  const NoiseSchedule vp = NoiseSchedule::vp(0.1, 20, 1);
  EXPECT_NEAR(vp.theta(1.0), 0.5 * (0.1 + 0.5 * 19.9), 1e-14);
  EXPECT_NEAR(vp.alpha(1.0), std::exp(-0.5 * (0.1 + 0.5 * 19.9)), 1e-16);
  const NoiseSchedule ve = NoiseSchedule::ve(0.01, 50, 1);
  EXPECT_NEAR(ve.theta(1.0), 0.5 * (2500 - 1e-4), 1e-9);
  const NoiseSchedule nl = NoiseSchedule::by_name("nonlinear");
  EXPECT_EQ(nl.g2(0.0), 1.0);
  EXPECT_EQ(nl.g2(1.0), 25.0);
  EXPECT_THROW(NoiseSchedule::by_name("subvp"), InvalidArgument);
}
