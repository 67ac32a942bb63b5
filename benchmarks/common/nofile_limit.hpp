// Thousands of connections need as many descriptors: raise the soft RLIMIT_NOFILE towards the
// hard limit (root may raise the hard one too), and stop with a clear message if it stays short.
#pragma once

#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>

namespace bench {

inline void raise_nofile_limit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= wanted) return;
  rlimit more{wanted, lim.rlim_max < wanted ? wanted : lim.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &more) == 0) return;
  more.rlim_max = lim.rlim_max;
  more.rlim_cur = lim.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &more);
  if (more.rlim_cur < wanted) {
    std::fprintf(stderr, "RLIMIT_NOFILE is %llu, %llu descriptors needed\n",
                 static_cast<unsigned long long>(more.rlim_cur), static_cast<unsigned long long>(wanted));
    std::exit(77);
  }
}

}  // namespace bench
