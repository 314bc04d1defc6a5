#include <gtest/gtest.h>
#include <torch/torch.h>

#include <scoreflow/core/particles.hpp>
#include <scoreflow/core/torch_view.hpp>

TEST(TorchView, SharesMemoryWithParticles) {
  sf::Particles p(3, 2, {1, 2, 3, 4, 5, 6});
  at::Tensor t = sf::as_tensor(p);
  EXPECT_EQ(t.size(0), 3);
  EXPECT_EQ(t.size(1), 2);
  EXPECT_EQ(t.data_ptr<double>(), p.data());
  t.mul_(2);  // writes through to the particles
  EXPECT_EQ(p(2, 1), 12.0);
  EXPECT_DOUBLE_EQ(t.sum().item<double>(), 42.0);
}
