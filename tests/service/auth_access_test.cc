#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth/access.h"

namespace loraplex::service {
namespace {

using ::testing::HasSubstr;

const Principal kAcme{"acme", Role::kTenant};
const Principal kGlobex{"globex", Role::kTenant};
const Principal kAdmin{"ops", Role::kAdmin};

TEST(AccessTest, TenantsManageTheirOwnAdapters) {
  for (Visibility visibility : {Visibility::kPrivate, Visibility::kPublic}) {
    EXPECT_TRUE(CanRead(kAcme, "acme", visibility));
    EXPECT_TRUE(CanUse(kAcme, "acme", visibility));
    EXPECT_TRUE(CanDelete(kAcme, "acme", visibility));
  }
  EXPECT_TRUE(CanUploadAs(kAcme, "acme"));
}

TEST(AccessTest, OtherTenantsPublicAdaptersAreReadAndUseOnly) {
  EXPECT_TRUE(CanRead(kGlobex, "acme", Visibility::kPublic));
  EXPECT_TRUE(CanUse(kGlobex, "acme", Visibility::kPublic));
  EXPECT_FALSE(CanDelete(kGlobex, "acme", Visibility::kPublic));
}

TEST(AccessTest, OtherTenantsPrivateAdaptersAreInvisible) {
  EXPECT_FALSE(CanRead(kGlobex, "acme", Visibility::kPrivate));
  EXPECT_FALSE(CanUse(kGlobex, "acme", Visibility::kPrivate));
  EXPECT_FALSE(CanDelete(kGlobex, "acme", Visibility::kPrivate));
  EXPECT_FALSE(CanUploadAs(kGlobex, "acme"));
}

TEST(AccessTest, AdminsMayDoEverything) {
  for (Visibility visibility : {Visibility::kPrivate, Visibility::kPublic}) {
    EXPECT_TRUE(CanRead(kAdmin, "acme", visibility));
    EXPECT_TRUE(CanUse(kAdmin, "acme", visibility));
    EXPECT_TRUE(CanDelete(kAdmin, "acme", visibility));
  }
  EXPECT_TRUE(CanUploadAs(kAdmin, "acme"));
}

TEST(AccessTest, InvisibleAdaptersAnswerExactlyLikeMissingOnes) {
  const AdapterRef ref{"acme", "secret-bot"};
  const absl::Status missing = AdapterNotFoundError(ref);
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), "adapter \"acme/secret-bot\" not found");
  for (AdapterAction action :
       {AdapterAction::kRead, AdapterAction::kUse, AdapterAction::kDelete}) {
    EXPECT_EQ(CheckAdapterAccess(kGlobex, action, ref, Visibility::kPrivate),
              missing);
  }
}

TEST(AccessTest, VisibleButNotOwnedIsPermissionDeniedForDelete) {
  const AdapterRef ref{"acme", "shared-bot"};
  EXPECT_TRUE(CheckAdapterAccess(kGlobex, AdapterAction::kRead, ref,
                                 Visibility::kPublic)
                  .ok());
  EXPECT_TRUE(
      CheckAdapterAccess(kGlobex, AdapterAction::kUse, ref, Visibility::kPublic)
          .ok());
  const absl::Status deleted = CheckAdapterAccess(
      kGlobex, AdapterAction::kDelete, ref, Visibility::kPublic);
  EXPECT_EQ(deleted.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(deleted.message(), HasSubstr("belongs to tenant \"acme\""));
  EXPECT_TRUE(CheckAdapterAccess(kAdmin, AdapterAction::kDelete, ref,
                                 Visibility::kPrivate)
                  .ok());
  EXPECT_TRUE(CheckAdapterAccess(kAcme, AdapterAction::kDelete, ref,
                                 Visibility::kPrivate)
                  .ok());
}

TEST(AccessTest, UploadsForAnotherTenantNeedAnAdmin) {
  EXPECT_TRUE(CheckUploadOwner(kAcme, "acme").ok());
  EXPECT_TRUE(CheckUploadOwner(kAdmin, "acme").ok());
  const absl::Status denied = CheckUploadOwner(kGlobex, "acme");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.message(),
              HasSubstr("\"globex\" may not upload adapters owned by tenant "
                        "\"acme\""));
}

TEST(AccessTest, VisibilityAndRoleNamesRoundTrip) {
  for (Visibility visibility : {Visibility::kPrivate, Visibility::kPublic}) {
    EXPECT_EQ(*ParseVisibility(VisibilityName(visibility)), visibility);
  }
  for (Role role : {Role::kTenant, Role::kAdmin}) {
    EXPECT_EQ(*ParseRole(RoleName(role)), role);
  }
  const absl::StatusOr<Visibility> visibility = ParseVisibility("Public");
  EXPECT_EQ(visibility.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(visibility.status().message(), HasSubstr("\"Public\""));
  EXPECT_EQ(ParseRole("root").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace loraplex::service
