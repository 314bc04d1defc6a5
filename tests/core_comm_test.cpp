// The process layer in one process, and the sharded run loop against the plain one.
// tests/mpi/rank_invariance.py runs the same code under mpirun with 1, 2 and 3 processes.
#include <gtest/gtest.h>

#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

TEST(Shards, TileTheRangeInOrderAndDifferByAtMostOne) {
  for (std::size_t n : {0, 1, 2, 5, 301, 1000003})
    for (int size = 1; size <= 7; ++size) {
      std::size_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < size; ++r) {
        const Shard s = shard_of(n, r, size);
        EXPECT_EQ(s.first, next) << "n " << n << " size " << size << " rank " << r;
        next = s.first + s.count;
        smallest = std::min(smallest, s.count), largest = std::max(largest, s.count);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1u);
    }
}

TEST(OneProcess, CollectivesAreTheIdentityAndErrorsKeepTheirType) {
  const Comm& c = Comm::self();
  EXPECT_EQ(c.size(), 1);
  EXPECT_TRUE(c.root());
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(c.all_rows(v, 3, 2), v);
  EXPECT_EQ(c.rows_at_root(v, 3, 2), v);
  EXPECT_EQ(c.all_values(v), v);
  int calls = 0;
  c.on_root([&] { ++calls; });
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(c.on_root([] { throw IoError("disk full"); }), IoError);
  EXPECT_TRUE(c.all_fail_together(0.1));
}

// Counts the steps it sees and the steps at which it read the particles.
class Counter : public Observer {
 public:
  bool on_step(const SamplerState& s, const StepInfo& info) override {
    ++steps;
    if (needs_state(s.step)) sums.push_back(s.x.values()[0] + s.x.values().back());
    acceptance += info.acceptance;
    return true;
  }
  bool needs_state(std::size_t step) const override { return step % 7 == 0; }
  int steps = 0;
  double acceptance = 0;
  std::vector<double> sums;
};

TEST(RunSharded, InOneProcessEqualsRunStepForStep) {
  const auto target = make_target("gmm4");
  const Mala mala(*target, {.step_size = 0.05, .seed = 3});
  Particles x0(257, 2);
  make_target("gauss:d=2")->sample(9, x0.rows());
  SamplerState a = mala.init(x0), b = mala.init(x0);
  b.comm = &Comm::self(), b.n_all = x0.n();
  Counter ca, cb;
  Observer* oa[] = {&ca};
  Observer* ob[] = {&cb};
  run(mala, a, 50, oa);
  run_sharded(mala, b, x0.n(), 50, ob, Comm::self());
  EXPECT_EQ(a.x.values(), b.x.values());
  EXPECT_EQ(a.grad.values(), b.grad.values());
  EXPECT_EQ(ca.steps, cb.steps);
  EXPECT_EQ(ca.acceptance, cb.acceptance);
  EXPECT_EQ(ca.sums, cb.sums);
  EXPECT_EQ(cb.sums.size(), 7u);
}

TEST(RunSharded, NamesTheSameDivergingParticleAsRun) {
  const auto target = make_target("gauss:d=2");
  const Ula ula(*target, {.step_size = 10, .seed = 1});
  Particles x0(64, 2, 0.5);
  std::string plain, sharded;
  SamplerState a = ula.init(x0), b = ula.init(x0);
  try {
    run(ula, a, 100000, {});
  } catch (const NumericalError& e) {
    plain = e.what();
  }
  try {
    run_sharded(ula, b, x0.n(), 100000, {}, Comm::self());
  } catch (const NumericalError& e) {
    sharded = e.what();
  }
  EXPECT_NE(plain.find("blew up"), std::string::npos) << plain;
  EXPECT_EQ(plain, sharded);
}

// Stands for a sampler whose particles interact through a model of all of them (SBTM).
struct WholeOnly : Sampler {
  std::string name() const override { return "whole-only"; }
  nlohmann::json config() const override { return {}; }
  SamplerState init(Particles x, std::size_t step) const override {
    SamplerState s;
    s.x = std::move(x), s.step = step;
    return s;
  }
  StepInfo step(SamplerState& s) const override { return ++s.step, StepInfo{}; }
};

TEST(RunSharded, RefusesSamplersThatCannotStepAShard) {
  const WholeOnly whole;
  SamplerState s = whole.init(Particles(16, 2, 0.1), 0);
  EXPECT_THROW(run_sharded(whole, s, 16, 10, {}, Comm::self()), InvalidArgument);
  const auto target = make_target("gmm4");
  const SamplerContext context{0, 10, "", false};
  for (const char* name :
       {"ula", "mala", "annealed-ula", "ais", "wfr", "birth-death", "fk-corrector"})
    EXPECT_TRUE(make_sampler(Spec::parse(name), *target, context)->runs_sharded()) << name;
}

}  // namespace
}  // namespace sf
