// What every libcurl user in the engine shares (the Hub client, the remote engine): one global
// initialization, owning handles, the error text of a failed transfer, and the transfer
// failures that mean "the host cannot be reached" or "worth trying again".
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <curl/curl.h>

namespace vqa::net {

// curl_global_init, once per process (thread-safe).
void curlGlobalInit();

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// A new easy handle after curlGlobalInit; throws vqa::Error when libcurl cannot make one.
CurlPtr newCurlHandle();

// The failed transfer's own words (CURLOPT_ERRORBUFFER) or libcurl's for the code.
std::string curlMessage(CURLcode code, const char* errbuf);

// The host name did not resolve, or nothing answered on its port.
bool isUnreachable(CURLcode code);
// A transfer that broke off and is worth resuming or repeating.
bool isTransient(CURLcode code);

// A CURLOPT_WRITEFUNCTION that appends to the std::string in its user pointer.
std::size_t appendToString(char* data, std::size_t size, std::size_t n, void* user);

}  // namespace vqa::net
