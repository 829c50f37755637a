// Object-store paths: which URLs are stores, where they lead in Arrow's filesystems, and the
// settings that are refused before any request is sent. No server is needed: making a
// filesystem and locating a path send nothing (the integration tests talk to real servers).

#include "common/object_store.h"

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace medallion::objstore {
namespace {

class ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME",
                             "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_KEY",
                             "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"}) {
      ::unsetenv(name);
    }
  }
  void TearDown() override { Shutdown(); }
};

TEST_F(ObjectStoreTest, SchemesAreRecognisedAndLocalPathsAreNot) {
  EXPECT_TRUE(IsS3("s3://bucket/prefix"));
  EXPECT_TRUE(IsAzure("abfs://c@acct/p"));
  EXPECT_TRUE(IsAzure("abfss://c@acct.dfs.core.windows.net/p"));
  EXPECT_TRUE(IsAzure("az://c/p"));
  EXPECT_TRUE(IsObjectStorePath("s3://b/k"));
  EXPECT_TRUE(IsObjectStorePath("az://c/k"));
  for (const char* local : {"data", "/var/lib/medallion/data", "./s3:/x", "s3", "abfs"}) {
    EXPECT_FALSE(IsObjectStore(local)) << local;
    EXPECT_FALSE(IsObjectStorePath(local)) << local;
  }
}

TEST_F(ObjectStoreTest, S3UrlsLocateBucketAndKey) {
  ASSERT_TRUE(ConfigureS3(S3Config{"http://127.0.0.1:9", "us-east-1", true}).ok());
  auto where = Locate("s3://bucket/a/b/");
  ASSERT_TRUE(where.ok()) << where.status().ToString();
  EXPECT_EQ(where->path, "bucket/a/b");
  EXPECT_EQ(where->fs->type_name(), "s3");
  EXPECT_FALSE(Locate("s3://").ok());
  EXPECT_FALSE(Locate("s3:///key").ok());
}

TEST_F(ObjectStoreTest, AzureUrlsLocateContainerAndPathInTheirAccount) {
  ASSERT_TRUE(ConfigureAzure(AzureConfig{"http://127.0.0.1:9/devstoreaccount1"}).ok());
  for (const char* url : {"abfs://lake@devstoreaccount1/t/data", "abfss://lake@devstoreaccount1.dfs.core.windows.net/t/data",
                          "az://lake/t/data"}) {
    auto where = Locate(url);
    ASSERT_TRUE(where.ok()) << url << ": " << where.status().ToString();
    EXPECT_EQ(where->path, "lake/t/data") << url;
    EXPECT_EQ(where->fs->type_name(), "abfs") << url;
  }
  EXPECT_FALSE(Locate("abfs://lake/t").ok());  // no account
  EXPECT_FALSE(Locate("az:///t").ok());        // no container
}

TEST_F(ObjectStoreTest, AzWithoutAnyConfiguredAccountIsRefusedNamingTheSettings) {
  ASSERT_TRUE(ConfigureAzure(AzureConfig{}).ok());
  auto where = Locate("az://lake/t");
  ASSERT_FALSE(where.ok());
  EXPECT_NE(where.status().message().find("AZURE_STORAGE_ACCOUNT_NAME"), std::string::npos);
}

TEST_F(ObjectStoreTest, BadEndpointsAndKeysAreRefusedBeforeAnyRequest) {
  EXPECT_TRUE(ConfigureS3(S3Config{"127.0.0.1:9000", "", std::nullopt}).IsInvalid());
  EXPECT_TRUE(ConfigureS3(S3Config{"http://127.0.0.1:9000/path", "", std::nullopt}).IsInvalid());
  EXPECT_TRUE(ConfigureS3(S3Config{"https://s3.example:443/", "", std::nullopt}).ok());
  EXPECT_TRUE(ConfigureAzure(AzureConfig{"ftp://127.0.0.1/a"}).IsInvalid());
  ::setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=not*base64!", 1);
  auto bad_key = ConfigureAzure(AzureConfig{});
  EXPECT_TRUE(bad_key.IsInvalid());
  EXPECT_NE(bad_key.message().find("not base64"), std::string::npos);
  ::setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountName=a;AccountKey=c2VjcmV0;BlobEndpoint=http://127.0.0.1:9/a", 1);
  EXPECT_TRUE(ConfigureAzure(AzureConfig{}).ok());
}

TEST_F(ObjectStoreTest, LocalOperationsStayLocal) {
  const std::string dir = ::testing::TempDir() + "/object_store_test_local";
  ASSERT_TRUE(MakeDirs(dir + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/sub/a", "x").ok());
  auto created = CreateFileExclusive(dir + "/b", "y");
  ASSERT_TRUE(created.ok() && *created);
  auto again = CreateFileExclusive(dir + "/b", "z");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(ReadFile(dir + "/b").ValueOrDie(), "y");  // the second writer changed nothing
  auto listing = ListDir(dir);
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->size(), 2u);
  auto files = ListFilesUnder(dir, "sub");
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->size(), 1u);  // sub/ skipped
  EXPECT_EQ((*files)[0].name, "b");
  EXPECT_TRUE(RemoveFile(dir + "/b").ok());
  EXPECT_TRUE(RemoveFile(dir + "/b").ok());  // already gone is fine
  EXPECT_FALSE(PathExists(dir + "/b"));
  auto missing = ListDir(dir + "/missing");
  ASSERT_TRUE(missing.ok());
  EXPECT_TRUE(missing->empty());
}

}  // namespace
}  // namespace medallion::objstore
