#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/rng.hpp>

#include <Random123/philox.h>

using namespace sf;

TEST(Rng, PhiloxMatchesRandom123) {
  for (std::uint64_t seed : {0ULL, 1ULL, 0x123456789abcdefULL})
    for (std::uint32_t c = 0; c < 50; ++c) {
      const PhiloxCounter ctr{c, c * 7u + 1, 0xdeadbeefu - c, c * c};
      std::uint32_t ours[4];
      philox4x32_10(seed, ctr, ours);
      const r123::Philox4x32::ctr_type rc{{ctr.c0, ctr.c1, ctr.c2, ctr.c3}};
      const r123::Philox4x32::key_type rk{
          {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
      const auto ref = r123::Philox4x32()(rc, rk);
      for (int k = 0; k < 4; ++k) ASSERT_EQ(ours[k], ref.v[k]) << seed << " " << c;
    }
}

TEST(Rng, BatchedNormalsEqualPerParticleDraws) {
  // Even d writes straight into the output, odd d through a buffer; 16 and 17 take the
  // branch that vectorises over a particle's blocks.
  for (std::size_t d : {1u, 2u, 3u, 4u, 7u, 16u, 17u}) {
    std::vector<double> batch(37 * d);
    fill_normals(5, Stream::langevin_noise, 11, 100, 37, d, batch.data());
    for (std::size_t i = 0; i < 37; ++i) {
      Draws r(5, Stream::langevin_noise, 100 + i, 11);
      for (std::size_t k = 0; k < d; ++k)
        ASSERT_EQ(batch[i * d + k], r.normal()) << d << " " << i << " " << k;
    }
  }
}

TEST(FastMath, LogAndSinCosMatchLibm) {
  for (double x = 1e-300; x < 1e300; x *= 1.37)
    ASSERT_NEAR(fast_log(x), std::log(x), 4e-16 * std::abs(std::log(x)) + 1e-300) << x;
  for (double u = 1e-9; u < 1; u += 0.000731) {
    double s, c;
    fast_sincos_2pi(u, s, c);
    ASSERT_NEAR(s, std::sin(2 * M_PI * u), 1e-15);
    ASSERT_NEAR(c, std::cos(2 * M_PI * u), 1e-15);
  }
}

TEST(Rng, SameKeySameNumbersDifferentKeysDiffer) {
  Draws a(42, Stream::init, 7, 3), b(42, Stream::init, 7, 3), c(42, Stream::init, 8, 3),
      d(42, Stream::accept, 7, 3);
  for (int i = 0; i < 10; ++i) {
    const double x = a.normal();
    EXPECT_EQ(x, b.normal());
    EXPECT_NE(x, c.normal());
    EXPECT_NE(x, d.normal());
  }
}

TEST(Rng, UniformMomentsWithinFourStandardErrors) {
  const int n = 400000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    Draws r(1, Stream::init, static_cast<std::uint64_t>(i), 0);
    const double u = r.uniform();
    ASSERT_GT(u, 0.0);
    ASSERT_LT(u, 1.0);
    s += u;
    s2 += u * u;
  }
  EXPECT_NEAR(s / n, 0.5, 4 * std::sqrt(1.0 / 12 / n));
  EXPECT_NEAR(s2 / n, 1.0 / 3, 4 * std::sqrt((1.0 / 5 - 1.0 / 9) / n));
}

TEST(Rng, NormalMomentsWithinFourStandardErrors) {
  const int n = 100000;
  double s = 0, s2 = 0, s4 = 0;
  Draws r(3, Stream::init, 0, 0);  // one long stream exercises the block counter
  for (int i = 0; i < 4 * n; ++i) {
    const double z = r.normal();
    s += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  const double m = 4.0 * n;
  EXPECT_NEAR(s / m, 0.0, 4 / std::sqrt(m));
  EXPECT_NEAR(s2 / m, 1.0, 4 * std::sqrt(2 / m));
  EXPECT_NEAR(s4 / m, 3.0, 4 * std::sqrt(96 / m));
}

TEST(FastExp, MatchesStdExpToTwoUlps) {
  for (double x = -707.5; x < 709; x += 0.37) {
    const double e = std::exp(x);
    ASSERT_NEAR(fast_exp(x) / e, 1.0, 4e-16) << x;
  }
  EXPECT_EQ(fast_exp(0.0), 1.0);
  EXPECT_EQ(fast_exp(-800.0), 0.0);
  EXPECT_EQ(fast_exp(-1e300), 0.0);
}
