#include <scoreflow/core/comm.hpp>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <exception>
#include <thread>

#include <fmt/format.h>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/interrupt.hpp>

#ifdef SCOREFLOW_HAVE_MPI
#include <mpi.h>
#endif

namespace sf {

Shard shard_of(std::size_t n, int rank, int size) {
  const auto r = static_cast<std::size_t>(rank), k = static_cast<std::size_t>(size);
  const std::size_t first = n * r / k, last = n * (r + 1) / k;
  return {first, last - first};
}

namespace {

// Rows [first, first + count) of `width` values each.
std::vector<double> slice_of(std::span<const double> v, std::size_t width, std::size_t first,
                             std::size_t count) {
  if ((first + count) * width > v.size())
    throw Error(fmt::format("rows_range: rows [{}, {}) of {} values each, but {} values are held",
                            first, first + count, width, v.size()));
  return {v.begin() + static_cast<std::ptrdiff_t>(first * width),
          v.begin() + static_cast<std::ptrdiff_t>((first + count) * width)};
}

void check_send_counts(std::span<const std::size_t> send_counts, int size) {
  if (send_counts.size() != static_cast<std::size_t>(size))
    throw Error(fmt::format("exchange: {} send counts for {} processes", send_counts.size(), size));
}

}  // namespace

const Comm& Comm::self() {
  static const Comm one(0, 1, false);
  return one;
}

nlohmann::json traffic_json(const Traffic& t, std::size_t steps) {
  nlohmann::json j = {{"collectives", t.collectives},
                      {"bytes_in", t.bytes_in},
                      {"bytes_out", t.bytes_out},
                      {"seconds", t.seconds}};
  if (steps > 0) {
    const double k = 1.0 / static_cast<double>(steps);
    j["per_step"] = {
        {"bytes_in", t.bytes_in * k}, {"bytes_out", t.bytes_out * k}, {"seconds", t.seconds * k}};
  }
  return j;
}

#ifdef SCOREFLOW_HAVE_MPI

namespace {

// What rethrows a root's error on every rank: its type, as a small code.
enum class ErrorKind : int { none, invalid_argument, io, format, numerical, interrupted, other };

ErrorKind kind_of(const std::exception& e) {
  if (dynamic_cast<const InvalidArgument*>(&e)) return ErrorKind::invalid_argument;
  if (dynamic_cast<const IoError*>(&e)) return ErrorKind::io;
  if (dynamic_cast<const FormatError*>(&e)) return ErrorKind::format;
  if (dynamic_cast<const NumericalError*>(&e)) return ErrorKind::numerical;
  if (dynamic_cast<const Interrupted*>(&e)) return ErrorKind::interrupted;
  return ErrorKind::other;
}

[[noreturn]] void throw_as(ErrorKind kind, const std::string& message) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      throw InvalidArgument(message);
    case ErrorKind::io:
      throw IoError(message);
    case ErrorKind::format:
      throw FormatError(message);
    case ErrorKind::numerical:
      throw NumericalError(message);
    case ErrorKind::interrupted:
      throw Interrupted(message);
    default:
      throw Error(message);
  }
}

// Launchers set these in every process they start: OpenMPI, then PMI/PMIx (MPICH, Slurm).
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

Traffic traffic_so_far;

// Counts one collective: the bytes it sent and received here, and its time.
class Metered {
 public:
  Metered(double out, double in) {
    traffic_so_far.bytes_out += out, traffic_so_far.bytes_in += in;
    ++traffic_so_far.collectives;
  }
  ~Metered() { traffic_so_far.seconds += MPI_Wtime() - start_; }
  Metered(const Metered&) = delete;
  Metered& operator=(const Metered&) = delete;

 private:
  double start_ = MPI_Wtime();
};

double bytes(std::size_t doubles) {
  return 8.0 * static_cast<double>(doubles);
}

// A communicator of its own for all_fail_together(), made with the world (MPI_Comm_dup is a
// collective), so its barrier cannot match a collective another process waits in.
MPI_Comm failures = MPI_COMM_NULL;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

int as_count(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX))
    throw InvalidArgument(fmt::format(
        "a shard of {} values is more than MPI can move in one message ({}); use more processes", n,
        INT_MAX));
  return static_cast<int>(n);
}

// Counts and displacements (in doubles) of every rank's shard of n rows of `width`.
struct Layout {
  std::vector<int> counts, displs;
};
Layout layout(const Comm& c, std::size_t n, std::size_t width) {
  Layout l;
  for (int r = 0; r < c.size(); ++r) {
    const Shard s = c.shard_of(n, r);
    l.counts.push_back(as_count(s.count * width));
    l.displs.push_back(as_count(s.first * width));
  }
  return l;
}

void check_local(const Comm& c, std::span<const double> local, std::size_t n, std::size_t width) {
  if (local.size() != c.shard(n).count * width)
    throw Error(fmt::format("rank {}: holds {} values, but its shard of {} rows of {} needs {}",
                            c.rank(), local.size(), n, width, c.shard(n).count * width));
}

// Every rank's shard of n rows of `width` in global order, on every rank or on the root only.
std::vector<double> gathered(const Comm& c, std::span<const double> local, std::size_t n,
                             std::size_t width, bool everywhere) {
  check_local(c, local, n, width);
  const Layout l = layout(c, n, width);
  const bool here = everywhere || c.root();
  std::vector<double> all(here ? n * width : 0);
  const Metered m(everywhere || !c.root() ? bytes(local.size()) : 0,
                  here ? bytes(all.size() - local.size()) : 0);
  if (everywhere)
    MPI_Allgatherv(local.data(), as_count(local.size()), MPI_DOUBLE, all.data(), l.counts.data(),
                   l.displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
  else
    MPI_Gatherv(local.data(), as_count(local.size()), MPI_DOUBLE, all.data(), l.counts.data(),
                l.displs.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return all;
}

}  // namespace

const Comm& Comm::world() {
  static const Comm w = [] {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised && !launched_by_mpirun()) return Comm(0, 1, false);
    if (!initialised) {
      int provided = 0;
      // Only the main thread calls MPI; OpenMP threads compute between the calls.
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      std::atexit(finalize_at_exit);
    }
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_dup(MPI_COMM_WORLD, &failures);
    return Comm(rank, size, true);
  }();
  return w;
}

std::vector<double> Comm::all_rows(std::span<const double> local, std::size_t n,
                                   std::size_t width) const {
  if (!mpi_) return {local.begin(), local.end()};
  return gathered(*this, local, n, width, /*everywhere=*/true);
}

std::vector<double> Comm::rows_at_root(std::span<const double> local, std::size_t n,
                                       std::size_t width) const {
  if (!mpi_) return {local.begin(), local.end()};
  return gathered(*this, local, n, width, /*everywhere=*/false);
}

std::vector<double> Comm::rows_range(std::span<const double> local, std::size_t n,
                                     std::size_t width, std::size_t first,
                                     std::size_t count) const {
  if (!mpi_) return slice_of(local, width, first, count);
  check_local(*this, local, n, width);
  // Each rank sends its overlap with the range; the overlaps tile it in rank order.
  std::vector<int> counts, displs;
  std::size_t mine_first = 0, mine_count = 0;
  for (int r = 0; r < size_; ++r) {
    const Shard s = shard_of(n, r);
    const std::size_t lo = std::max(first, s.first),
                      hi = std::min(first + count, s.first + s.count);
    const std::size_t rows = hi > lo ? hi - lo : 0;
    counts.push_back(as_count(rows * width));
    displs.push_back(as_count(rows ? (lo - first) * width : 0));
    if (r == rank_) mine_first = rows ? lo - s.first : 0, mine_count = rows;
  }
  std::vector<double> block(count * width);
  const Metered m(bytes(mine_count * width), bytes(block.size() - mine_count * width));
  MPI_Allgatherv(local.data() + mine_first * width, as_count(mine_count * width), MPI_DOUBLE,
                 block.data(), counts.data(), displs.data(), MPI_DOUBLE, MPI_COMM_WORLD);
  return block;
}

std::vector<double> Comm::all_values(std::span<const double> mine) const {
  if (!mpi_) return {mine.begin(), mine.end()};
  std::vector<double> all(mine.size() * static_cast<std::size_t>(size_));
  const Metered m(bytes(mine.size()), bytes(all.size() - mine.size()));
  MPI_Allgather(mine.data(), as_count(mine.size()), MPI_DOUBLE, all.data(), as_count(mine.size()),
                MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
}

std::vector<std::uint64_t> Comm::all_values(std::span<const std::uint64_t> mine) const {
  if (!mpi_) return {mine.begin(), mine.end()};
  std::vector<std::uint64_t> all(mine.size() * static_cast<std::size_t>(size_));
  const Metered m(bytes(mine.size()), bytes(all.size() - mine.size()));
  MPI_Allgather(mine.data(), as_count(mine.size()), MPI_UINT64_T, all.data(), as_count(mine.size()),
                MPI_UINT64_T, MPI_COMM_WORLD);
  return all;
}

namespace {

// MPI_Alltoallv of `send` (send_counts[r] values for rank r, rank after rank); returns what
// every rank sent here, rank after rank. 8-byte values of one MPI type.
template <class T>
std::vector<T> exchange_values(std::span<const T> send, std::span<const std::size_t> send_counts,
                               int rank, MPI_Datatype type) {
  std::vector<int> out_counts(send_counts.size()), out_displs(send_counts.size());
  for (std::size_t r = 0, at = 0; r < send_counts.size(); at += send_counts[r], ++r)
    out_counts[r] = as_count(send_counts[r]), out_displs[r] = as_count(at);
  std::vector<int> in_counts(send_counts.size()), in_displs(send_counts.size());
  {
    const Metered m(bytes(out_counts.size()) / 2, bytes(in_counts.size()) / 2);
    MPI_Alltoall(out_counts.data(), 1, MPI_INT, in_counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  }
  std::size_t total = 0;
  for (std::size_t r = 0; r < in_counts.size(); ++r)
    in_displs[r] = as_count(total), total += static_cast<std::size_t>(in_counts[r]);
  std::vector<T> received(total);
  const auto here = static_cast<std::size_t>(rank);
  const Metered m(bytes(send.size() - send_counts[here]),
                  bytes(total - static_cast<std::size_t>(in_counts[here])));
  MPI_Alltoallv(send.data(), out_counts.data(), out_displs.data(), type, received.data(),
                in_counts.data(), in_displs.data(), type, MPI_COMM_WORLD);
  return received;
}

}  // namespace

std::vector<double> Comm::exchange(std::span<const double> send,
                                   std::span<const std::size_t> send_counts) const {
  check_send_counts(send_counts, size_);
  if (!mpi_) return {send.begin(), send.end()};
  return exchange_values(send, send_counts, rank_, MPI_DOUBLE);
}

std::vector<std::uint64_t> Comm::exchange(std::span<const std::uint64_t> send,
                                          std::span<const std::size_t> send_counts) const {
  check_send_counts(send_counts, size_);
  if (!mpi_) return {send.begin(), send.end()};
  return exchange_values(send, send_counts, rank_, MPI_UINT64_T);
}

bool Comm::from_root(bool value) const {
  if (!mpi_) return value;
  int v = value;
  const Metered m(root() ? 4 : 0, root() ? 0 : 4);
  MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return v != 0;
}

bool Comm::any(bool mine) const {
  if (!mpi_) return mine;
  int v = mine, all = 0;
  const Metered m(4, 4);
  MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  return all != 0;
}

Traffic Comm::traffic() const {
  return traffic_so_far;
}

void Comm::on_root(const std::function<void()>& f) const {
  if (!mpi_ || size_ == 1) return f();
  int kind = static_cast<int>(ErrorKind::none);
  std::string message;
  if (root()) {
    try {
      f();
    } catch (const std::exception& e) {
      kind = static_cast<int>(kind_of(e));
      message = e.what();
    }
  }
  MPI_Bcast(&kind, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (kind == static_cast<int>(ErrorKind::none)) return;
  int length = as_count(message.size());
  MPI_Bcast(&length, 1, MPI_INT, 0, MPI_COMM_WORLD);
  message.resize(static_cast<std::size_t>(length));
  MPI_Bcast(message.data(), length, MPI_CHAR, 0, MPI_COMM_WORLD);
  throw_as(static_cast<ErrorKind>(kind), message);
}

bool Comm::all_fail_together(double seconds) const {
  if (!mpi_ || size_ == 1) return true;
  MPI_Request request;
  MPI_Ibarrier(failures, &request);
  const double end = MPI_Wtime() + seconds;
  int done = 0;
  while (!done && MPI_Wtime() < end) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done != 0;
}

void Comm::abort(int code) const {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#else  // one process: every collective is the identity

const Comm& Comm::world() {
  return self();
}

std::vector<double> Comm::all_rows(std::span<const double> local, std::size_t, std::size_t) const {
  return {local.begin(), local.end()};
}
std::vector<double> Comm::rows_at_root(std::span<const double> local, std::size_t,
                                       std::size_t) const {
  return {local.begin(), local.end()};
}
std::vector<double> Comm::rows_range(std::span<const double> local, std::size_t, std::size_t width,
                                     std::size_t first, std::size_t count) const {
  return slice_of(local, width, first, count);
}
std::vector<double> Comm::all_values(std::span<const double> mine) const {
  return {mine.begin(), mine.end()};
}
std::vector<std::uint64_t> Comm::all_values(std::span<const std::uint64_t> mine) const {
  return {mine.begin(), mine.end()};
}
std::vector<double> Comm::exchange(std::span<const double> send,
                                   std::span<const std::size_t> send_counts) const {
  check_send_counts(send_counts, size_);
  return {send.begin(), send.end()};
}
std::vector<std::uint64_t> Comm::exchange(std::span<const std::uint64_t> send,
                                          std::span<const std::size_t> send_counts) const {
  check_send_counts(send_counts, size_);
  return {send.begin(), send.end()};
}
bool Comm::from_root(bool value) const {
  return value;
}
bool Comm::any(bool mine) const {
  return mine;
}
Traffic Comm::traffic() const {
  return {};
}
void Comm::on_root(const std::function<void()>& f) const {
  f();
}
bool Comm::all_fail_together(double) const {
  return true;
}
void Comm::abort(int code) const {
  std::exit(code);
}

#endif

}  // namespace sf
