// The processes of one job: MPI's world when the program was started by mpirun (and built
// with MPI), otherwise this process alone. Methods say what they need — a shard of a global
// index range, the rows of every shard in global order, a verdict every rank agrees on — and
// not how it travels. Work is split by global index and every reduction runs in global index
// order on gathered values, so results do not depend on the number of processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sf {

// Rows [first, first + count) of a global index range.
struct Shard {
  std::size_t first = 0, count = 0;
};

// Contiguous, balanced shards of n rows over `size` processes: rank r owns
// [n·r/size, n·(r+1)/size).
Shard shard_of(std::size_t n, int rank, int size);

// What this process moved through the collectives so far, and the time it spent in them
// (waiting for the others included).
struct Traffic {
  double bytes_in = 0, bytes_out = 0, seconds = 0;
  std::size_t collectives = 0;
};

class Comm {
 public:
  // The job's processes. Under mpirun this initialises MPI on first use (MPI is finalised at
  // exit); a program that initialised MPI itself (mpi4py) is joined as it is.
  static const Comm& world();
  // This process alone, whatever launched it.
  static const Comm& self();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }

  // This process's shard of n global rows, and another's (see sf::shard_of).
  Shard shard(std::size_t n) const { return shard_of(n, rank_); }
  Shard shard_of(std::size_t n, int rank) const { return sf::shard_of(n, rank, size_); }

  // Every rank's `local` rows (`width` values each; rank r holds shard_of(n, r)) in global
  // order, on every rank, or on the root only (other ranks get an empty vector).
  std::vector<double> all_rows(std::span<const double> local, std::size_t n,
                               std::size_t width) const;
  std::vector<double> rows_at_root(std::span<const double> local, std::size_t n,
                                   std::size_t width) const;
  // Global rows [first, first + count) of the same layout, on every rank: one block of a
  // sweep over all rows that never holds more than a block.
  std::vector<double> rows_range(std::span<const double> local, std::size_t n, std::size_t width,
                                 std::size_t first, std::size_t count) const;
  // Every rank's `count` values, rank after rank, on every rank.
  std::vector<double> all_values(std::span<const double> mine) const;
  std::vector<std::uint64_t> all_values(std::span<const std::uint64_t> mine) const;
  // Point-to-point moves of rows: `send` holds the values for rank 0, then rank 1, …
  // (`send_counts[r]` values for rank r); returns what every rank sent here, rank after rank.
  std::vector<double> exchange(std::span<const double> send,
                               std::span<const std::size_t> send_counts) const;
  std::vector<std::uint64_t> exchange(std::span<const std::uint64_t> send,
                                      std::span<const std::size_t> send_counts) const;
  // The root's `value` on every rank.
  bool from_root(bool value) const;
  // Whether any rank has `mine` set, on every rank.
  bool any(bool mine) const;
  Traffic traffic() const;

  // Runs f on the root only; an exception there is rethrown on every rank with the same type
  // and message, so all ranks leave together instead of waiting for the root in a collective.
  void on_root(const std::function<void()>& f) const;
  // Called by a process that failed: true when every process calls it within `seconds`
  // (they all failed, e.g. on the same bad option, and may end normally); false when some
  // did not (they wait in a collective for this one: end the job with abort()).
  bool all_fail_together(double seconds) const;
  // Ends every process of the job with `code` (MPI_Abort), after the caller has said why.
  [[noreturn]] void abort(int code) const;

 private:
  Comm(int rank, int size, bool mpi) : rank_(rank), size_(size), mpi_(mpi) {}
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// A run's traffic for its summary: totals, and per step where `steps` > 0.
nlohmann::json traffic_json(const Traffic& t, std::size_t steps = 0);

}  // namespace sf
